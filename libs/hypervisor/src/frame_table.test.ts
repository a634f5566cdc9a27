import { describe, it, expect } from 'vitest';
import { FrameTable, FRAME_FREE, HypervisorError } from './index.js';

describe('FrameTable', () => {
  it('allocates distinct free frames to a domain and counts what is left', () => {
    const ft = new FrameTable(8);
    const a = ft.allocate(1, 3);
    const b = ft.allocate(2, 3);
    expect(new Set([...a, ...b]).size).toBe(6);
    for (const m of a) expect(ft.owner(m)).toBe(1);
    for (const m of b) expect(ft.owner(m)).toBe(2);
    expect(ft.freeFrames).toBe(2);
  });

  it('refuses an allocation it cannot satisfy in full, and allocates nothing', () => {
    const ft = new FrameTable(4);
    ft.allocate(1, 3);
    expect(() => ft.allocate(2, 2)).toThrow('out of memory');
    expect(ft.ownedBy(2)).toEqual([]);
    expect(ft.freeFrames).toBe(1);
  });

  it('reuses freed frames', () => {
    const ft = new FrameTable(2);
    const [m] = ft.allocate(1, 2);
    ft.free(m);
    expect(ft.owner(m)).toBe(FRAME_FREE);
    expect(ft.allocate(3, 1)).toEqual([m]);
  });

  it('will not transfer or free a frame with I/O references, nor transfer from a non-owner', () => {
    const ft = new FrameTable(4);
    const [m] = ft.allocate(1, 1);
    ft.getRef(m);
    expect(ft.ioRefs(m)).toBe(1);
    expect(() => ft.transfer(m, 1, 2)).toThrow(HypervisorError);
    expect(() => ft.free(m)).toThrow(/I\/O references/);
    ft.putRef(m);
    expect(() => ft.transfer(m, 2, 3)).toThrow(/owned by 1/);
    ft.transfer(m, 1, 2);
    expect(ft.owner(m)).toBe(2);
  });

  it('rejects bad frame numbers and reference underflow', () => {
    const ft = new FrameTable(4);
    expect(() => ft.owner(4)).toThrow(/mfn 4/);
    expect(() => ft.ioRefs(-1)).toThrow(HypervisorError);
    const [m] = ft.allocate(1, 1);
    expect(() => ft.putRef(m)).toThrow(/no I\/O reference/);
    expect(() => ft.getRef(3)).toThrow(/free/);
  });
});
