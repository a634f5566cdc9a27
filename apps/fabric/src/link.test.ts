import { describe, expect, it } from 'vitest';
import { LinkDirection } from './link.js';

describe('a link direction', () => {
  it('adds its latency and serializes frames at its rate', () => {
    const l = new LinkDirection('a->b', 'b/eth0', 1e9, 50_000, 0, 1);
    const wire = ((1514 + 24) * 8 * 1e9) / 1e9;
    const first = l.carry(1514, wire); // the frame's last bit left the NIC at `wire`
    expect(first.arriveNs).toBeCloseTo(wire + 50_000, 6);
    const second = l.carry(1514, wire); // handed over at the same time: it waits for the first
    expect(second.arriveNs).toBeCloseTo(2 * wire + 50_000, 6);
  });

  it('a slower link than the NIC becomes the bottleneck', () => {
    const l = new LinkDirection('a->b', 'b/eth0', 1e8, 0, 0, 1);
    const r = [0, 1, 2].map(() => l.carry(1000, 0));
    expect(r[2].arriveNs - r[1].arriveNs).toBeCloseTo(((1000 + 24) * 8 * 1e9) / 1e8, 3);
  });

  it('loses the fraction of frames it is told to, reproducibly from its seed', () => {
    const run = (seed: number) => {
      const l = new LinkDirection('x', 'y', 1e9, 0, 0.1, seed);
      return Array.from({ length: 5000 }, () => l.carry(100, 0).lost);
    };
    const a = run(3);
    const lost = a.filter(Boolean).length;
    expect(lost).toBeGreaterThan(400);
    expect(lost).toBeLessThan(600);
    expect(run(3)).toEqual(a);
    expect(run(4)).not.toEqual(a);
  });

  it('a lossy link does not lose its first frames: links seeded 1, 2, 3 … are as lossy at their start as later', () => {
    // the fabric seeds link i with seed + i (a segment's directions 64·seed + i)
    const firstLost = Array.from({ length: 1000 }, (_, seed) => new LinkDirection('x', 'y', 1e9, 0, 0.02, seed + 1).carry(100, 0).lost).filter(Boolean).length;
    expect(firstLost).toBeGreaterThan(5);
    expect(firstLost).toBeLessThan(45);
  });
});
