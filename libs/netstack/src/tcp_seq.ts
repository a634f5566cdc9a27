// TCP sequence numbers are 32-bit and wrap; the stack keeps stream offsets as plain numbers
// and converts at the wire.

/** Signed distance a - b in sequence space (RFC 1982 style, valid within ±2^31). */
export function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}

export function seqAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}

/** A deterministic initial sequence number per flow (runs must be reproducible). */
export function initialSeq(seed: number, salt: number): number {
  return Math.imul(seed ^ salt, 0x85ebca6b) >>> 0;
}
