import { describe, it, expect } from 'vitest';
import { BufferMachineMemory, GuestMemory, INVALID_MFN, MemoryError, PAGE_SIZE } from './index.js';

describe('GuestMemory', () => {
  it('translates gfn through the p2m to the machine frame', () => {
    const mem = new BufferMachineMemory(8);
    const g = new GuestMemory(mem, [6, 2, 4]);
    expect(g.pages).toBe(3);
    expect(g.mfnOf(0)).toBe(6);
    g.write(0, 8, Buffer.from('guest'));
    expect(mem.read(6, 8, 5).toString()).toBe('guest');
    mem.write(2, 0, Buffer.from('machine'));
    expect(g.read(1, 0, 7).toString()).toBe('machine');
  });

  it('keeps its own copy of the p2m', () => {
    const mem = new BufferMachineMemory(4);
    const p2m = [0, 1];
    const g = new GuestMemory(mem, p2m);
    p2m[0] = 3;
    expect(g.mfnOf(0)).toBe(0);
  });

  it('throws RangeError for a gfn outside the table or a p2m entry outside machine memory', () => {
    const mem = new BufferMachineMemory(4);
    const g = new GuestMemory(mem, [0, 1]);
    expect(() => g.read(2, 0, 1)).toThrow(/gfn 2/);
    expect(() => g.write(-1, 0, Buffer.alloc(1))).toThrow(RangeError);
    expect(() => g.mfnOf(1.5)).toThrow(RangeError);
    expect(() => g.read(0, 4095, 2)).toThrow(RangeError);
    expect(() => g.setMfn(0, 4)).toThrow(/mfn 4/);
    expect(() => new GuestMemory(mem, [0, 9])).toThrow(/p2m\[1\]/);
  });

  it('follows setMfn after a page flip and refuses access to a gfn with no frame', () => {
    const mem = new BufferMachineMemory(4);
    mem.write(3, 0, Buffer.from('new page'));
    const g = new GuestMemory(mem, [0, 1]);
    g.setMfn(1, INVALID_MFN);
    expect(g.mfnOf(1)).toBe(INVALID_MFN);
    expect(() => g.read(1, 0, 1)).toThrow(MemoryError);
    g.setMfn(1, 3);
    expect(g.read(1, 0, 8).toString()).toBe('new page');
  });

  it('hash changes when any page changes and equals for equal contents', () => {
    const memA = new BufferMachineMemory(4);
    const memB = new BufferMachineMemory(4);
    const a = new GuestMemory(memA, [0, 1]);
    const b = new GuestMemory(memB, [3, 2]); // different mfns, same guest-visible contents
    expect(a.hash()).toBe(b.hash());
    a.write(1, PAGE_SIZE - 1, Buffer.from([1]));
    expect(a.hash()).not.toBe(b.hash());
    b.write(1, PAGE_SIZE - 1, Buffer.from([1]));
    expect(a.hash()).toBe(b.hash());
    // page order matters
    a.write(0, 0, Buffer.from([9]));
    b.write(1, 0, Buffer.from([9]));
    expect(a.hash()).not.toBe(b.hash());
  });

  it('logs dirty gfns only while enabled, and takeDirty clears the log', () => {
    const mem = new BufferMachineMemory(8);
    const g = new GuestMemory(mem, [0, 1, 2, 3, 4]);
    g.write(1, 0, Buffer.from([1]));
    expect(g.takeDirty()).toEqual([]);
    g.enableDirtyLog();
    g.write(4, 0, Buffer.from([1]));
    g.write(2, 0, Buffer.from([1]));
    g.write(4, 9, Buffer.from([1]));
    g.read(3, 0, 10);
    expect(g.takeDirty()).toEqual([2, 4]);
    expect(g.takeDirty()).toEqual([]);
    g.setMfn(0, 7);
    expect(g.takeDirty()).toEqual([0]);
    g.disableDirtyLog();
    g.write(1, 0, Buffer.from([1]));
    expect(g.takeDirty()).toEqual([]);
  });
});
