export type NetfrontErrorReason = 'not_connected' | 'already_connected' | 'no_pages' | 'no_grefs' | 'bad_argument';

/** Misuse of netfront by its owner (the guest's wiring), not bad input from the backend. */
export class NetfrontError extends Error {
  constructor(readonly reason: NetfrontErrorReason, message: string) {
    super(`${reason}: ${message}`);
    this.name = 'NetfrontError';
  }
}
