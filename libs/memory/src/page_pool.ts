import { MemoryError } from './errors.js';

/** A free list of a domain's own page frames, used as I/O buffers (e.g. netfront RX pages). */
export class PagePool {
  // per gfn: NOT_MEMBER, IN_USE or FREE — a byte array, since give/take run for every frame
  private readonly state: Uint8Array;
  private readonly count: number;
  private readonly stack: number[] = [];

  constructor(gfns: number[]) {
    let max = -1;
    for (const gfn of gfns) {
      if (!Number.isInteger(gfn) || gfn < 0) throw new RangeError(`gfn ${gfn} is not a non-negative integer`);
      if (gfn > max) max = gfn;
    }
    this.state = new Uint8Array(max + 1);
    for (const gfn of gfns) {
      if (this.state[gfn] !== NOT_MEMBER) throw new MemoryError('duplicate_gfn', `gfn ${gfn} given twice to the pool`);
      this.state[gfn] = IN_USE;
    }
    this.count = gfns.length;
    // Reverse so that take() hands out gfns in the order given.
    for (let i = gfns.length - 1; i >= 0; i--) this.give(gfns[i]!);
  }

  get free(): number {
    return this.stack.length;
  }

  get size(): number {
    return this.count;
  }

  take(): number | undefined {
    const gfn = this.stack.pop();
    if (gfn !== undefined) this.state[gfn] = IN_USE;
    return gfn;
  }

  give(gfn: number): void {
    const st = Number.isInteger(gfn) && gfn >= 0 ? (this.state[gfn] ?? NOT_MEMBER) : NOT_MEMBER;
    if (st === NOT_MEMBER) throw new MemoryError('not_in_pool', `gfn ${gfn} is not from this pool`);
    if (st === FREE) throw new MemoryError('already_free', `gfn ${gfn} is already free`);
    this.state[gfn] = FREE;
    this.stack.push(gfn);
  }
}

const NOT_MEMBER = 0;
const IN_USE = 1;
const FREE = 2;
