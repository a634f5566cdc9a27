import { describe, it, expect } from 'vitest';
import { PagePool, MemoryError } from './index.js';

describe('PagePool', () => {
  it('hands out each gfn once until it is given back', () => {
    const pool = new PagePool([10, 11, 12]);
    expect(pool.free).toBe(3);
    const taken = [pool.take(), pool.take(), pool.take()];
    expect(new Set(taken)).toEqual(new Set([10, 11, 12]));
    expect(pool.free).toBe(0);
    expect(pool.take()).toBeUndefined();
    pool.give(11);
    expect(pool.free).toBe(1);
    expect(pool.take()).toBe(11);
  });

  it('refuses to take back a gfn that is not from the pool', () => {
    const pool = new PagePool([1, 2]);
    pool.take();
    expect(() => pool.give(3)).toThrow(MemoryError);
    expect(() => pool.give(3)).toThrow(/not from this pool/);
    expect(pool.free).toBe(1);
  });

  it('refuses a double give of a gfn that is already free', () => {
    const pool = new PagePool([1, 2]);
    expect(() => pool.give(1)).toThrow(/already free/);
    const g = pool.take()!;
    pool.give(g);
    expect(() => pool.give(g)).toThrow(MemoryError);
    expect(pool.free).toBe(2);
  });

  it('rejects duplicate or invalid gfns at construction', () => {
    expect(() => new PagePool([1, 1])).toThrow(MemoryError);
    expect(() => new PagePool([-1])).toThrow(RangeError);
  });
});
