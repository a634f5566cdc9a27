/**
 * Errors raised by machine and guest memory for misuse that is not a range problem
 * (range problems are RangeError, as the contract says).
 */
export type MemoryErrorReason = 'closed' | 'no_frame' | 'not_in_pool' | 'already_free' | 'duplicate_gfn' | 'short_io';

export class MemoryError extends Error {
  constructor(readonly reason: MemoryErrorReason, message: string) {
    super(message);
    this.name = 'MemoryError';
  }
}
