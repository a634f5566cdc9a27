// A frame at no modelled time is dropped with reason bad_time and leaves the link as it was.
// Found by the lab fuzzer: a frame at NaN or 1e300 ns left the link busy "until then", and every
// later frame on it arrived at that time.
import { describe, expect, it } from 'vitest';
import { FabricLink } from './segment.js';

describe('a fabric link and modelled time', () => {
  it('drops a frame at NaN, an infinity, a negative time or past 2^53 ns, and the next frame arrives on time', () => {
    for (const form of ['cable', 'segment'] as const) {
      const l = new FabricLink('l', ['a/eth0', 'b/eth0'], form, 1e9, 1000, 0, 1);
      const frame = Buffer.alloc(60, 0xff);
      for (const t of [Number.NaN, Infinity, -1, 2 ** 53 + 2, 1e300]) {
        const r = l.carry('a/eth0', frame, t);
        expect(r.drop).toBe('bad_time');
        expect(r.deliveries).toEqual([]);
      }
      const next = l.carry('a/eth0', frame, 10_000);
      expect(next.drop).toBeUndefined();
      expect(next.deliveries[0]!.arriveNs).toBe(11_000);
    }
  });
});
