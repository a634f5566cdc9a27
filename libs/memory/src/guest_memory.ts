import { createHash } from 'node:crypto';
import { MemoryError } from './errors.js';
import type { MachineMemory } from './machine_memory.js';
import { PAGE_SIZE, checkMfn, checkSpan } from './page.js';

/** A p2m slot with no machine frame behind it (e.g. after the page was flipped away). */
export const INVALID_MFN = -1;

/**
 * A domain's view of its own memory: guest frame numbers translate to machine frames
 * through its physical-to-machine table (p2m).
 *
 * The dirty log only sees writes made through this object. Writes that other parties make
 * into the domain's frames (a backend's grant copy, a NIC's DMA) are the hypervisor's to
 * log, as Xen's log-dirty mode does.
 */
export class GuestMemory {
  private readonly p2m: number[];
  private dirty: Set<number> | undefined;

  constructor(private readonly mem: MachineMemory, p2m: number[]) {
    // Own copy: the table changes only through setMfn.
    this.p2m = p2m.slice();
    this.p2m.forEach((mfn, gfn) => {
      if (mfn !== INVALID_MFN) {
        try {
          checkMfn(mfn, mem.frames);
        } catch (e) {
          throw new RangeError(`p2m[${gfn}]: ${(e as Error).message}`);
        }
      }
    });
  }

  get pages(): number {
    return this.p2m.length;
  }

  private checkGfn(gfn: number): void {
    if (!Number.isInteger(gfn) || gfn < 0) throw new RangeError(`gfn ${gfn} is not a non-negative integer`);
    if (gfn >= this.p2m.length) throw new RangeError(`gfn ${gfn} >= pages ${this.p2m.length}`);
  }

  /** The machine frame behind `gfn`, or INVALID_MFN if it has none. */
  mfnOf(gfn: number): number {
    this.checkGfn(gfn);
    return this.p2m[gfn];
  }

  /** Points `gfn` at another machine frame (after a page flip), or at INVALID_MFN. */
  setMfn(gfn: number, mfn: number): void {
    this.checkGfn(gfn);
    if (mfn !== INVALID_MFN) checkMfn(mfn, this.mem.frames);
    this.p2m[gfn] = mfn;
    // The page's contents changed from the domain's point of view.
    this.dirty?.add(gfn);
  }

  private backing(gfn: number): number {
    const mfn = this.mfnOf(gfn);
    if (mfn === INVALID_MFN) throw new MemoryError('no_frame', `gfn ${gfn} has no machine frame`);
    return mfn;
  }

  read(gfn: number, offset: number, length: number): Buffer {
    this.checkGfn(gfn);
    checkSpan(offset, length);
    return this.mem.read(this.backing(gfn), offset, length);
  }

  write(gfn: number, offset: number, data: Buffer): void {
    this.checkGfn(gfn);
    checkSpan(offset, data.length);
    this.mem.write(this.backing(gfn), offset, data);
    this.dirty?.add(gfn);
  }

  /** sha256 over all pages in gfn order; a page with no frame contributes a marker. */
  hash(): string {
    const h = createHash('sha256');
    for (let gfn = 0; gfn < this.p2m.length; gfn++) {
      const mfn = this.p2m[gfn];
      if (mfn === INVALID_MFN) h.update(`invalid:${gfn};`);
      else h.update(this.mem.read(mfn, 0, PAGE_SIZE));
    }
    return h.digest('hex');
  }

  /** Starts (or restarts) logging which gfns are written. */
  enableDirtyLog(): void {
    this.dirty = new Set();
  }

  disableDirtyLog(): void {
    this.dirty = undefined;
  }

  get dirtyLogEnabled(): boolean {
    return this.dirty !== undefined;
  }

  /** The gfns written since the last call (ascending), and clears the log. */
  takeDirty(): number[] {
    if (!this.dirty) return [];
    const out = [...this.dirty].sort((a, b) => a - b);
    this.dirty.clear();
    return out;
  }
}
