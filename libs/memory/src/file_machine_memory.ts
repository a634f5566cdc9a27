import * as fs from 'node:fs';
import { MemoryError } from './errors.js';
import type { MachineMemory } from './machine_memory.js';
import { PAGE_SIZE, checkFrameCount, checkMfn, checkSpan, sha256Hex } from './page.js';
import { scanMarks } from './dirty_log.js';

const DIRTY = Buffer.from([1]);
const CLEAN = Buffer.from([0]);

/**
 * Machine memory in a file (on tmpfs in a running lab) that every service of a host opens,
 * as the CPUs and DMA engines of one machine share its RAM. Nothing is cached in the
 * process: each read and write goes to the file, so one process sees another's writes at
 * once. The dirty log (a byte per frame) is a file beside it (`<path>.dirty`), so that every
 * process writing into the host's memory marks the frames it wrote for every other to see.
 */
export class FileMachineMemory implements MachineMemory {
  readonly frames: number;
  readonly path: string;
  private fd: number | undefined;
  private logFd: number | undefined;

  constructor(path: string, frames: number) {
    checkFrameCount(frames);
    this.frames = frames;
    this.path = path;
    // O_RDWR|O_CREAT without O_APPEND: positional writes must land where asked.
    const fd = fs.openSync(path, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
    try {
      // Grow (sparse) but never shrink: another process may have opened it larger.
      const size = frames * PAGE_SIZE;
      if (fs.fstatSync(fd).size < size) fs.ftruncateSync(fd, size);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
    this.fd = fd;
    try {
      this.logFd = fs.openSync(`${path}.dirty`, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
      if (fs.fstatSync(this.logFd).size < frames) fs.ftruncateSync(this.logFd, frames);
    } catch (e) {
      this.close();
      throw e;
    }
  }

  private log(): number {
    if (this.logFd === undefined) throw new MemoryError('closed', `machine memory ${this.path} is closed`);
    return this.logFd;
  }

  private handle(): number {
    if (this.fd === undefined) throw new MemoryError('closed', `machine memory ${this.path} is closed`);
    return this.fd;
  }

  read(mfn: number, offset: number, length: number): Buffer {
    checkMfn(mfn, this.frames);
    checkSpan(offset, length);
    const fd = this.handle();
    const out = Buffer.alloc(length);
    let done = 0;
    while (done < length) {
      const n = fs.readSync(fd, out, done, length - done, mfn * PAGE_SIZE + offset + done);
      // The file was sized at open; a short read means someone truncated it under us.
      if (n === 0) throw new MemoryError('short_io', `short read of mfn ${mfn} in ${this.path}`);
      done += n;
    }
    return out;
  }

  write(mfn: number, offset: number, data: Buffer): void {
    checkMfn(mfn, this.frames);
    checkSpan(offset, data.length);
    const fd = this.handle();
    let done = 0;
    while (done < data.length) {
      const n = fs.writeSync(fd, data, done, data.length - done, mfn * PAGE_SIZE + offset + done);
      if (n === 0) throw new MemoryError('short_io', `short write of mfn ${mfn} in ${this.path}`);
      done += n;
    }
    // data first, then the mark (see MachineMemory.takeDirty)
    if (data.length > 0) fs.writeSync(this.log(), DIRTY, 0, 1, mfn);
  }

  private readMarks(first: number, count: number): Buffer {
    const out = Buffer.alloc(count);
    const n = fs.readSync(this.log(), out, 0, count, first);
    if (n !== count) throw new MemoryError('short_io', `short read of the dirty log of ${this.path}`);
    return out;
  }

  takeDirty(mfns: readonly number[]): number[] {
    const { marked } = scanMarks(mfns, this.frames, (f, c) => this.readMarks(f, c));
    for (const mfn of marked) fs.writeSync(this.log(), CLEAN, 0, 1, mfn);
    return marked;
  }

  countDirty(mfns: readonly number[]): number {
    return scanMarks(mfns, this.frames, (f, c) => this.readMarks(f, c)).marked.length;
  }

  copy(srcMfn: number, srcOff: number, dstMfn: number, dstOff: number, length: number): void {
    // Check the destination before reading so a bad copy has no partial effect.
    checkMfn(dstMfn, this.frames);
    checkSpan(dstOff, length);
    this.write(dstMfn, dstOff, this.read(srcMfn, srcOff, length));
  }

  hashFrame(mfn: number): string {
    return sha256Hex(this.read(mfn, 0, PAGE_SIZE));
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    if (this.logFd !== undefined) fs.closeSync(this.logFd);
    this.fd = undefined;
    this.logFd = undefined;
  }
}
