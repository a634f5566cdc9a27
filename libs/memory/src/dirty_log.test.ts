import { describe, it, expect, afterEach } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BufferMachineMemory, FileMachineMemory, GuestMemory, PAGE_SIZE, type MachineMemory } from './index.js';

const tmpFiles: string[] = [];
function tmpPath(): string {
  const p = path.join(os.tmpdir(), `vnetlab-dirty-${process.pid}-${Math.random().toString(36).slice(2)}.ram`);
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
