/**
 * The guest's free grant references (Linux's gnttab_alloc_grant_references). The first
 * entries are reserved (GNTTAB_NR_RESERVED_ENTRIES = 8: xenstore and console rings).
 */
export const GNTTAB_NR_RESERVED_ENTRIES = 8;

export class GrefAllocator {
  private readonly free: number[] = [];

  constructor(base: number, capacity: number) {
    for (let gref = capacity - 1; gref >= base; gref--) this.free.push(gref);
  }

  get available(): number {
    return this.free.length;
  }

  take(): number | undefined {
    return this.free.pop();
  }

  give(gref: number): void {
    this.free.push(gref);
  }
}
