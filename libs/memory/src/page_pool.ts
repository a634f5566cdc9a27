import { MemoryError } from './errors.js';

/** A free list of a domain's own page frames, used as I/O buffers (e.g. netfront RX pages). */
export class PagePool {
  private readonly members: ReadonlySet<number>;
  private readonly freeSet = new Set<number>();
  private readonly stack: number[] = [];

  constructor(gfns: number[]) {
    const members = new Set<number>();
    for (const gfn of gfns) {
      if (!Number.isInteger(gfn) || gfn < 0) throw new RangeError(`gfn ${gfn} is not a non-negative integer`);
      if (members.has(gfn)) throw new MemoryError('duplicate_gfn', `gfn ${gfn} given twice to the pool`);
      members.add(gfn);
    }
    this.members = members;
    // Reverse so that take() hands out gfns in the order given.
    for (let i = gfns.length - 1; i >= 0; i--) this.give(gfns[i]);
  }

  get free(): number {
    return this.stack.length;
  }

  get size(): number {
    return this.members.size;
  }

  take(): number | undefined {
    const gfn = this.stack.pop();
    if (gfn !== undefined) this.freeSet.delete(gfn);
    return gfn;
  }

  give(gfn: number): void {
    if (!this.members.has(gfn)) throw new MemoryError('not_in_pool', `gfn ${gfn} is not from this pool`);
    if (this.freeSet.has(gfn)) throw new MemoryError('already_free', `gfn ${gfn} is already free`);
    this.freeSet.add(gfn);
    this.stack.push(gfn);
  }
}
