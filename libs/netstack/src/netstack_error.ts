/** Why the stack refused an API call (bad input from its owner, never a bad frame: those are drops). */
export type NetStackErrorReason =
  | 'too_big'        // payload larger than the MTU allows (no fragmentation)
  | 'bad_argument'   // an address, port, size or time that is out of range
  | 'port_in_use'    // bind/listen on a port that is taken
  | 'unknown_flow';  // a flow id this stack does not hold

export class NetStackError extends Error {
  override readonly name = 'NetStackError';
  constructor(readonly reason: NetStackErrorReason, message: string) {
    super(`${reason}: ${message}`);
  }
}

export function checkPort(port: number, what: string): void {
  if (!Number.isInteger(port) || port < 1 || port > 0xffff) {
    throw new NetStackError('bad_argument', `${what} must be an integer in 1..65535, got ${port}`);
  }
}

export function checkTime(tNs: number): void {
  if (typeof tNs !== 'number' || !Number.isFinite(tNs) || tNs < 0) {
    throw new NetStackError('bad_argument', `tNs must be a finite non-negative number, got ${tNs}`);
  }
}

export function checkByteCount(n: number, what: string, min = 0): void {
  if (!Number.isSafeInteger(n) || n < min) {
    throw new NetStackError('bad_argument', `${what} must be an integer >= ${min}, got ${n}`);
  }
}
