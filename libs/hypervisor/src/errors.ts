/**
 * Misuse of the hypervisor by its host (the service that wires it), never by a guest:
 * guest-supplied bad input gets a status and a violation record instead.
 */
export type HypervisorErrorReason =
  | 'out_of_memory' | 'bad_frame' | 'bad_owner' | 'busy' | 'bad_refcount'
  | 'bad_domain' | 'bad_argument' | 'bad_gref' | 'gref_in_use';

export class HypervisorError extends Error {
  constructor(readonly reason: HypervisorErrorReason, message: string) {
    super(message);
    this.name = 'HypervisorError';
  }
}
