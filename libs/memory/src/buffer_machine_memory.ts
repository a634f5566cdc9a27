import { MemoryError } from './errors.js';
import type { MachineMemory } from './machine_memory.js';
import { PAGE_SIZE, checkFrameCount, checkMfn, checkSpan, sha256Hex } from './page.js';
import { scanMarks } from './dirty_log.js';

/** Machine memory held in one process (tests, single-process labs). */
export class BufferMachineMemory implements MachineMemory {
  readonly frames: number;
  private ram: Buffer | undefined;
  private readonly marks: Uint8Array;

  constructor(frames: number) {
    checkFrameCount(frames);
    this.frames = frames;
    this.ram = Buffer.alloc(frames * PAGE_SIZE);
    this.marks = new Uint8Array(frames);
  }

  private bytes(): Buffer {
    if (!this.ram) throw new MemoryError('closed', 'machine memory is closed');
    return this.ram;
  }

  read(mfn: number, offset: number, length: number): Buffer {
    checkMfn(mfn, this.frames);
    checkSpan(offset, length);
    const at = mfn * PAGE_SIZE + offset;
    return Buffer.from(this.bytes().subarray(at, at + length));
  }

  write(mfn: number, offset: number, data: Buffer): void {
    checkMfn(mfn, this.frames);
    checkSpan(offset, data.length);
    data.copy(this.bytes(), mfn * PAGE_SIZE + offset);
    if (data.length > 0) this.marks[mfn] = 1;
  }

  takeDirty(mfns: readonly number[]): number[] {
    const { marked } = scanMarks(mfns, this.frames, (f, c) => Buffer.from(this.marks.subarray(f, f + c)));
    for (const mfn of marked) this.marks[mfn] = 0;
    return marked;
  }

  countDirty(mfns: readonly number[]): number {
    return scanMarks(mfns, this.frames, (f, c) => Buffer.from(this.marks.subarray(f, f + c))).marked.length;
  }

  copy(srcMfn: number, srcOff: number, dstMfn: number, dstOff: number, length: number): void {
    checkMfn(dstMfn, this.frames);
    checkSpan(dstOff, length);
    this.write(dstMfn, dstOff, this.read(srcMfn, srcOff, length));
  }

  hashFrame(mfn: number): string {
    return sha256Hex(this.read(mfn, 0, PAGE_SIZE));
  }

  close(): void {
    this.ram = undefined;
  }
}
