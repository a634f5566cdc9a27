// Bulk payloads are a pure function of (flow, offset), so a receiver can check every byte
// it delivers without the sender shipping a copy: misordered, duplicated or shifted data
// shows up as a mismatch. The stream is cut into 64 KiB blocks; each block is the flow's
// 64 KiB table of hash bytes rotated by a per-block amount, so producing and checking a
// segment is one or two memory copies/compares instead of a per-byte hash.

const TABLE = 0x10000;

/** FNV-1a of the flow id: the pattern's seed, the same on both ends. */
export function flowSeed(flow: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < flow.length; i++) {
    h ^= flow.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function mix(a: number, b: number): number {
  let h = Math.imul(a ^ Math.imul(b, 0x27d4eb2f), 0x9e3779b1);
  h ^= h >>> 15;
  return Math.imul(h, 0x85ebca6b) >>> 0;
}

export class BytePattern {
  private readonly table = Buffer.allocUnsafe(TABLE);

  constructor(readonly seed: number) {
    for (let i = 0; i < TABLE; i++) this.table[i] = mix(seed, i) >>> 24;
  }

  /** The byte at `offset` of the stream. */
  byteAt(offset: number): number {
    const block = Math.floor(offset / TABLE);
    return this.table[(offset - block * TABLE + this.rotation(block)) % TABLE]!;
  }

  bytes(offset: number, length: number): Buffer {
    const out = Buffer.allocUnsafe(length);
    this.runs(offset, length, (src, at, n) => { this.table.copy(out, at, src, src + n); });
    return out;
  }

  /** How many bytes of `data` differ from the stream at `offset`. */
  mismatches(offset: number, data: Buffer): number {
    let bad = 0;
    this.runs(offset, data.length, (src, at, n) => {
      if (this.table.subarray(src, src + n).equals(data.subarray(at, at + n))) return;
      for (let i = 0; i < n; i++) if (this.table[src + i] !== data[at + i]) bad++;
    });
    return bad;
  }

  private rotation(block: number): number {
    return mix(this.seed ^ 0xb5ad4ece, block) % TABLE;
  }

  /** Splits [offset, offset+length) into runs that are contiguous in the table. */
  private runs(offset: number, length: number, fn: (tableOff: number, at: number, n: number) => void): void {
    for (let at = 0; at < length;) {
      const pos = offset + at;
      const block = Math.floor(pos / TABLE);
      const inBlock = pos - block * TABLE;
      const src = (inBlock + this.rotation(block)) % TABLE;
      const n = Math.min(length - at, TABLE - inBlock, TABLE - src);
      fn(src, at, n);
      at += n;
    }
  }
}
