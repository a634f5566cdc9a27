import { FRAME_FREE } from './constants.js';
import { HypervisorError } from './errors.js';

/** Owner and in-flight I/O reference count of every machine frame (Xen's struct page_info). */
export class FrameTable {
  readonly frames: number;
  private readonly owners: Int32Array;
  private readonly refs: Uint32Array;
  private freeCount: number;
  // Next-fit cursor: allocation scans on from the last allocated frame.
  private cursor = 0;

  constructor(frames: number) {
    if (!Number.isInteger(frames) || frames <= 0) {
      throw new HypervisorError('bad_argument', `frames ${frames} is not a positive integer`);
    }
    this.frames = frames;
    this.owners = new Int32Array(frames).fill(FRAME_FREE);
    this.refs = new Uint32Array(frames);
    this.freeCount = frames;
  }

  get freeFrames(): number {
    return this.freeCount;
  }

  /** True if `mfn` is an integer frame number of this machine. */
  valid(mfn: number): boolean {
    return Number.isInteger(mfn) && mfn >= 0 && mfn < this.frames;
  }

  private check(mfn: number): void {
    if (!this.valid(mfn)) throw new HypervisorError('bad_frame', `mfn ${mfn} is not a frame of this machine (0..${this.frames - 1})`);
  }

  /** Gives `count` free frames to `domid`; all or nothing. */
  allocate(domid: number, count: number): number[] {
    if (!Number.isInteger(count) || count < 0) throw new HypervisorError('bad_argument', `count ${count} is not a non-negative integer`);
    if (domid === FRAME_FREE) throw new HypervisorError('bad_owner', 'cannot allocate frames to FRAME_FREE');
    if (count > this.freeCount) {
      throw new HypervisorError('out_of_memory', `out of memory: ${count} frames asked, ${this.freeCount} free`);
    }
    const out: number[] = [];
    let mfn = this.cursor;
    while (out.length < count) {
      if (this.owners[mfn] === FRAME_FREE) {
        this.owners[mfn] = domid;
        out.push(mfn);
      }
      mfn = (mfn + 1) % this.frames;
    }
    this.cursor = mfn;
    this.freeCount -= count;
    return out;
  }

  owner(mfn: number): number {
    this.check(mfn);
    return this.owners[mfn];
  }

  ioRefs(mfn: number): number {
    this.check(mfn);
    return this.refs[mfn];
  }

  /** Takes an I/O reference (a mapping, a DMA in flight): the frame cannot change hands. */
  getRef(mfn: number): void {
    this.check(mfn);
    if (this.owners[mfn] === FRAME_FREE) throw new HypervisorError('bad_owner', `mfn ${mfn} is free`);
    this.refs[mfn]++;
  }

  putRef(mfn: number): void {
    this.check(mfn);
    if (this.refs[mfn] === 0) throw new HypervisorError('bad_refcount', `mfn ${mfn} has no I/O reference to put`);
    this.refs[mfn]--;
  }

  /**
   * Moves a frame from one owner to another (a page flip). `ignoreRefs` only with protection
   * off: the frame moves with its I/O references (the DMA in flight lands in the new owner's page).
   */
  transfer(mfn: number, from: number, to: number, ignoreRefs = false): void {
    this.check(mfn);
    if (this.owners[mfn] !== from) throw new HypervisorError('bad_owner', `mfn ${mfn} is owned by ${this.owners[mfn]}, not ${from}`);
    if (this.refs[mfn] > 0 && !ignoreRefs) throw new HypervisorError('busy', `mfn ${mfn} has ${this.refs[mfn]} I/O references`);
    if (to === FRAME_FREE) throw new HypervisorError('bad_owner', 'use free() to release a frame');
    this.owners[mfn] = to;
  }

  free(mfn: number): void {
    this.check(mfn);
    if (this.refs[mfn] > 0) throw new HypervisorError('busy', `mfn ${mfn} has ${this.refs[mfn]} I/O references`);
    if (this.owners[mfn] === FRAME_FREE) throw new HypervisorError('bad_owner', `mfn ${mfn} is already free`);
    this.owners[mfn] = FRAME_FREE;
    this.freeCount++;
  }

  /** Frames owned by `domid`, ascending. */
  ownedBy(domid: number): number[] {
    const out: number[] = [];
    for (let mfn = 0; mfn < this.frames; mfn++) if (this.owners[mfn] === domid) out.push(mfn);
    return out;
  }
}
