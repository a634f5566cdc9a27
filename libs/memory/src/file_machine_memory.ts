import * as fs from 'node:fs';
import { MemoryError } from './errors.js';
import type { MachineMemory } from './machine_memory.js';
import { PAGE_SIZE, checkFrameCount, checkMfn, checkSpan, sha256Hex } from './page.js';

/**
 * Machine memory in a file (on tmpfs in a running lab) that every service of a host opens,
 * as the CPUs and DMA engines of one machine share its RAM. Nothing is cached in the
 * process: each read and write goes to the file, so one process sees another's writes at
 * once.
 */
export class FileMachineMemory implements MachineMemory {
  readonly frames: number;
  readonly path: string;
  private fd: number | undefined;

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
    if (this.fd === undefined) return;
    fs.closeSync(this.fd);
    this.fd = undefined;
  }
}
