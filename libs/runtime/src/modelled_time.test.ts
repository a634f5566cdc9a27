import { describe, expect, it } from 'vitest';
import { checkModelledTime, isModelledTime, MAX_MODELLED_NS } from './modelled_time.js';
import { BadMessageError } from './service.js';

describe('modelled time', () => {
  it('accepts 0 up to 2^53 - 1 ns and refuses NaN, infinities, negative and larger times with reason bad_time', () => {
    for (const t of [0, 1.5, 1e15, MAX_MODELLED_NS]) expect(isModelledTime(t)).toBe(true);
    for (const t of [Number.NaN, Infinity, -Infinity, -1, -0.5, MAX_MODELLED_NS + 2, 1e300]) {
      expect(isModelledTime(t)).toBe(false);
      expect(() => checkModelledTime(t, 'event')).toThrow(BadMessageError);
    }
    try {
      checkModelledTime(1e300, 'doorbell');
    } catch (e) {
      expect((e as BadMessageError).reason).toBe('bad_time');
      expect((e as Error).message).toMatch(/^doorbell at modelled time 1e\+300/);
    }
    expect(checkModelledTime(42, 'event')).toBe(42);
  });
});
