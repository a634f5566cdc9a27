export type NetbackErrorReason = 'not_connected' | 'already_connected' | 'ring_map_failed' | 'bad_argument';

/** Misuse of netback by its owner, or a connection that cannot be made. A frontend's bad
 * requests never throw: they are answered with an error status and counted. */
export class NetbackError extends Error {
  constructor(readonly reason: NetbackErrorReason, message: string) {
    super(`${reason}: ${message}`);
    this.name = 'NetbackError';
  }
}
