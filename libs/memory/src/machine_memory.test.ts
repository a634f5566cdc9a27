import { describe, it, expect, afterEach } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { BufferMachineMemory, FileMachineMemory, GuestMemory, PAGE_SIZE, MemoryError, type MachineMemory } from './index.js';

const tmpFiles: string[] = [];
function tmpPath(): string {
  const p = path.join(os.tmpdir(), `vnetlab-mem-${process.pid}-${Math.random().toString(36).slice(2)}.ram`);
  tmpFiles.push(p);
  return p;
}
afterEach(() => {
  while (tmpFiles.length) {
    const p = tmpFiles.pop()!;
    fs.rmSync(p, { force: true });
    fs.rmSync(`${p}.dirty`, { force: true });
  }
});

const kinds: Array<[string, (frames: number) => MachineMemory]> = [
  ['BufferMachineMemory', (n) => new BufferMachineMemory(n)],
  ['FileMachineMemory', (n) => new FileMachineMemory(tmpPath(), n)],
];

describe.each(kinds)('%s', (_name, make) => {
  it('starts zeroed and reads back what was written at the offset', () => {
    const mem = make(4);
    expect(mem.frames).toBe(4);
    expect(mem.read(3, 0, PAGE_SIZE).equals(Buffer.alloc(PAGE_SIZE))).toBe(true);
    mem.write(2, 100, Buffer.from('hello'));
    expect(mem.read(2, 100, 5).toString()).toBe('hello');
    expect(mem.read(2, 99, 1)[0]).toBe(0);
    // other frames untouched
    expect(mem.read(1, 100, 5).equals(Buffer.alloc(5))).toBe(true);
    mem.close();
  });

  it('returns a fresh copy that does not alias memory', () => {
    const mem = make(1);
    mem.write(0, 0, Buffer.from([1, 2, 3]));
    const b = mem.read(0, 0, 3);
    b[0] = 99;
    expect(mem.read(0, 0, 1)[0]).toBe(1);
    mem.close();
  });

  it('copies bytes between frames, including overlapping ranges of one frame', () => {
    const mem = make(2);
    mem.write(0, 10, Buffer.from('abcdef'));
    mem.copy(0, 10, 1, 4000, 6);
    expect(mem.read(1, 4000, 6).toString()).toBe('abcdef');
    mem.copy(0, 10, 0, 12, 6);
    expect(mem.read(0, 10, 8).toString()).toBe('ababcdef');
    mem.close();
  });

  it('hashes a frame as sha256 of its 4096 bytes', () => {
    const mem = make(2);
    const page = Buffer.alloc(PAGE_SIZE, 7);
    mem.write(1, 0, page);
    expect(mem.hashFrame(1)).toBe(createHash('sha256').update(page).digest('hex'));
    expect(mem.hashFrame(0)).not.toBe(mem.hashFrame(1));
    mem.close();
  });

  it('rejects out-of-range mfn, offset and length with RangeError naming the value', () => {
    const mem = make(2);
    expect(() => mem.read(2, 0, 1)).toThrow(RangeError);
    expect(() => mem.read(2, 0, 1)).toThrow(/mfn 2/);
    expect(() => mem.read(-1, 0, 1)).toThrow(/mfn -1/);
    expect(() => mem.read(0, 4000, 97)).toThrow(/offset 4000 \+ length 97/);
    expect(() => mem.read(0, -5, 1)).toThrow(/offset -5/);
    expect(() => mem.read(0, 0, -1)).toThrow(/length -1/);
    expect(() => mem.write(0, 4095, Buffer.alloc(2))).toThrow(RangeError);
    expect(() => mem.copy(0, 0, 5, 0, 1)).toThrow(/mfn 5/);
    expect(() => mem.copy(0, 4090, 1, 0, 10)).toThrow(RangeError);
    expect(() => mem.copy(0, 0, 1, 4090, 10)).toThrow(RangeError);
    expect(() => mem.hashFrame(7)).toThrow(RangeError);
    mem.close();
  });

  it('leaves the destination untouched when a copy is refused', () => {
    const mem = make(2);
    mem.write(1, 0, Buffer.alloc(PAGE_SIZE, 5));
    const before = mem.hashFrame(1);
    expect(() => mem.copy(0, 4000, 1, 0, 200)).toThrow(RangeError);
    expect(mem.hashFrame(1)).toBe(before);
    mem.close();
  });

  it('refuses use after close with a MemoryError', () => {
    const mem = make(1);
    mem.close();
    expect(() => mem.read(0, 0, 1)).toThrow(MemoryError);
  });

  it('rejects a non-positive frame count', () => {
    expect(() => make(0)).toThrow(RangeError);
  });
});

describe('FileMachineMemory shared by two openers', () => {
  it('each instance sees the other’s writes at once (no caching)', () => {
    const p = tmpPath();
    const a = new FileMachineMemory(p, 8);
    const b = new FileMachineMemory(p, 8);
    a.write(5, 4090, Buffer.from('xyz'));
    expect(b.read(5, 4090, 3).toString()).toBe('xyz');
    b.write(5, 4090, Buffer.from('XY'));
    expect(a.read(5, 4090, 3).toString()).toBe('XYz');
    b.copy(5, 4090, 0, 0, 3);
    expect(a.hashFrame(0)).toBe(b.hashFrame(0));
    expect(a.read(0, 0, 3).toString()).toBe('XYz');
    a.close();
    b.close();
  });

  it('creates a sparse file of frames*4096 bytes and never shrinks an existing one', () => {
    const p = tmpPath();
    const big = new FileMachineMemory(p, 16);
    expect(fs.statSync(p).size).toBe(16 * PAGE_SIZE);
    big.write(15, 0, Buffer.from('keep'));
    const small = new FileMachineMemory(p, 4);
    expect(fs.statSync(p).size).toBe(16 * PAGE_SIZE);
    expect(big.read(15, 0, 4).toString()).toBe('keep');
    expect(() => small.read(15, 0, 4)).toThrow(RangeError);
    big.close();
    small.close();
  });

  it('reopening after close keeps the contents', () => {
    const p = tmpPath();
    const a = new FileMachineMemory(p, 2);
    a.write(1, 7, Buffer.from('persist'));
    a.close();
    const b = new FileMachineMemory(p, 2);
    expect(b.read(1, 7, 7).toString()).toBe('persist');
    b.close();
  });
});

describe.each(kinds)('%s dirty log', (_name, make) => {
  it('marks the frames written and copied into, and clears only what it reports', () => {
    const mem = make(8);
    mem.write(2, 10, Buffer.from('x'));
    mem.copy(2, 0, 5, 0, 100); // the destination is dirtied, the source only read
    mem.read(6, 0, 10);
    expect(mem.countDirty([0, 1, 2, 3, 4, 5, 6, 7])).toBe(2);
    expect(mem.takeDirty([5, 6, 7])).toEqual([5]);
    // frame 2 was not asked about: still marked
    expect(mem.takeDirty([7, 2, 2, 0])).toEqual([2]);
    expect(mem.countDirty([0, 1, 2, 3, 4, 5, 6, 7])).toBe(0);
    mem.write(5, 0, Buffer.from('again'));
    expect(mem.takeDirty([5])).toEqual([5]);
    mem.close();
  });

  it('refuses a frame outside the machine', () => {
    const mem = make(2);
    expect(() => mem.takeDirty([2])).toThrow(RangeError);
    mem.close();
  });

  it('sees a guest writing through its p2m as a dirty machine frame', () => {
    const mem = make(8);
    const gm = new GuestMemory(mem, [6, 3]);
    gm.write(1, 0, Buffer.alloc(PAGE_SIZE, 7));
    expect(mem.takeDirty([6, 3])).toEqual([3]);
    mem.close();
  });
});

describe('FileMachineMemory dirty log across openers', () => {
  it('a write by one process-like opener is seen and cleared by another', () => {
    const p = tmpPath();
    const writer = new FileMachineMemory(p, 4);
    const hypervisor = new FileMachineMemory(p, 4);
    writer.write(3, 0, Buffer.from('dma'));
    expect(hypervisor.takeDirty([0, 1, 2, 3])).toEqual([3]);
    expect(writer.countDirty([3])).toBe(0);
    // the frames' bytes are where they were: the log lives beside them
    expect(hypervisor.read(3, 0, 3).toString()).toBe('dma');
    expect(fs.statSync(`${p}.dirty`).size).toBe(4);
    writer.close();
    hypervisor.close();
  });
});
