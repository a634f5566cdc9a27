// Bulk payloads are a pure function of (flow, offset), so a receiver can check every byte
// it delivers without the sender shipping a copy: misordered, duplicated or shifted data
// shows up as a mismatch.

/** FNV-1a of the flow id: the pattern's seed, the same on both ends. */
export function flowSeed(flow: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < flow.length; i++) {
    h ^= flow.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The byte at `offset` of a flow's stream (a multiplicative hash, so no short period). */
export function patternByte(seed: number, offset: number): number {
  // Mixing in the high part keeps offsets past 2^32 distinct from their low 32 bits.
  const lo = offset >>> 0, hi = Math.floor(offset / 0x100000000);
  return Math.imul((lo ^ seed) + Math.imul(hi, 0x27d4eb2f), 0x9e3779b1) >>> 24;
}

export function patternBytes(seed: number, offset: number, length: number): Buffer {
  const b = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) b[i] = patternByte(seed, offset + i);
  return b;
}

/** How many bytes of `data` differ from the pattern at `offset`. */
export function patternMismatches(seed: number, offset: number, data: Buffer): number {
  let bad = 0;
  for (let i = 0; i < data.length; i++) if (data[i] !== patternByte(seed, offset + i)) bad++;
  return bad;
}
