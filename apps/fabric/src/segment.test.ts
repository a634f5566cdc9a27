import { describe, expect, it } from 'vitest';
import { FabricLink } from './segment.js';

const A = '02:00:00:00:0a:01', B = '02:00:00:00:0b:01';
function frame(dst: string, src: string): Buffer {
  const b = Buffer.alloc(60);
  Buffer.from(dst.split(':').map((x) => parseInt(x, 16))).copy(b, 0);
  Buffer.from(src.split(':').map((x) => parseInt(x, 16))).copy(b, 6);
  return b;
}

describe('a fabric link', () => {
  it('a cable carries every frame to its other end, whatever the MACs', () => {
    const l = new FabricLink('l', ['a/eth0', 'b/eth0'], 'cable', 1e9, 1000, 0, 1);
    const r = l.carry('a/eth0', frame('ff:ff:ff:ff:ff:ff', A), 0);
    expect(r.deliveries.map((d) => [d.to, d.direction])).toEqual([['b/eth0', 'a/eth0->b/eth0']]);
  });

  it('a segment floods unknown and broadcast destinations, then forwards to the learned end only', () => {
    const l = new FabricLink('u', ['a/eth0', 'b/eth0', 'c/eth0'], 'segment', 1e9, 1000, 0, 1);
    const first = l.carry('a/eth0', frame(B, A), 0);
    expect(first.how).toBe('flooded');
    expect(first.deliveries.map((d) => d.to)).toEqual(['b/eth0', 'c/eth0']);
    // b answers: A is known behind a, so only a hears it
    const reply = l.carry('b/eth0', frame(A, B), 0);
    expect(reply.how).toBe('learned');
    expect(reply.deliveries.map((d) => d.to)).toEqual(['a/eth0']);
    // and now a's frames to B go to b alone
    expect(l.carry('a/eth0', frame(B, A), 0).deliveries.map((d) => d.to)).toEqual(['b/eth0']);
    expect(l.carry('c/eth0', frame('ff:ff:ff:ff:ff:ff', '02:00:00:00:0c:01'), 0).deliveries.map((d) => d.to)).toEqual(['a/eth0', 'b/eth0']);
  });

  it('each egress port serializes at the link rate: two senders to one end queue behind each other', () => {
    const l = new FabricLink('u', ['a/eth0', 'b/eth0', 'c/eth0'], 'segment', 1e9, 0, 0, 1);
    l.carry('c/eth0', frame(A, '02:00:00:00:0c:01'), 0); // flooded, teaches nothing about A
    l.carry('a/eth0', frame(B, A), 0);
    l.carry('b/eth0', frame(A, B), 0);
    const x = l.carry('b/eth0', frame(A, B), 10_000);
    const y = l.carry('c/eth0', frame(A, '02:00:00:00:0c:01'), 10_000);
    const wire = ((60 + 24) * 8 * 1e9) / 1e9;
    expect(y.deliveries[0]!.arriveNs - x.deliveries[0]!.arriveNs).toBeCloseTo(wire, 6);
  });

  it('drops a frame whose destination sits behind the end it came from', () => {
    const l = new FabricLink('u', ['a/eth0', 'b/eth0', 'c/eth0'], 'segment', 1e9, 0, 0, 1);
    l.carry('a/eth0', frame(B, A), 0);
    expect(l.carry('a/eth0', frame(A, B), 0)).toMatchObject({ drop: 'same_port', deliveries: [] });
  });
});
