import { describe, expect, it } from 'vitest';
import { TSO_MAX_SEGMENTS, segmentTcp, tcpPayloadBytes } from '@vnetlab/frames';
import { NetStack, TSO_MAX_PAYLOAD } from './net_stack.js';
import type { StackOutput } from './stack_output.js';
import { BackToBack } from './back_to_back.testkit.js';

const A = { mac: '02:00:00:00:00:0a', ip: '10.0.0.1' };
const B = { mac: '02:00:00:00:00:0b', ip: '10.0.0.2' };

/** Plays the TSO device of stack `s`: every frame it marks as a large segment is cut into MSS frames. */
function withTso(s: NetStack, seen: number[]): NetStack {
  const cut = (o: StackOutput): StackOutput => ({
    ...o,
    frames: o.frames.flatMap((f) => {
      const mss = s.gsoSizeOf(f);
      if (mss === undefined) return [f];
      seen.push(tcpPayloadBytes(f));
      return segmentTcp(f, mss);
    }),
  });
  for (const m of ['pullFrames', 'receive', 'fireTimers'] as const) {
    const orig = (s[m] as (...a: unknown[]) => StackOutput).bind(s);
    (s as unknown as Record<string, unknown>)[m] = (...a: unknown[]) => cut(orig(...a));
  }
  return s;
}

describe('TCP with segmentation offload (tsoMaxBytes)', () => {
  it('sends segments larger than the MSS, in whole MSS, that the device cuts; every byte arrives in order', () => {
    const large: number[] = [];
    const a = withTso(new NetStack({ ...A, tsoMaxBytes: TSO_MAX_PAYLOAD }), large);
    const w = new BackToBack(a, new NetStack(B));
    w.b.listenTcp(5001);
    const { flow, out } = w.a.startTcpBulk(B.ip, 5001, 1_000_000, 0);
    w.put('a', out);
    w.run();
    expect(w.b.flowStats(flow)).toMatchObject({ bytesDelivered: 1_000_000, corruptBytes: 0 });
    expect(large.length).toBeGreaterThan(0);
    // whole MSS except the stream's tail, never above the IPv4 limit
    const mss = w.a.mss;
    expect(large.slice(0, -1).every((n) => n % mss === 0 && n <= TSO_MAX_PAYLOAD)).toBe(true);
    expect(Math.max(...large)).toBeGreaterThan(4 * mss);
    // the stack built far fewer segments than there were frames on the wire
    const segs = w.a.flowStats(flow)!.tcp as { segmentsSent: number };
    expect(segs.segmentsSent).toBeLessThan(1_000_000 / mss / 3);
    expect(w.delivered.b.every((d) => d.frame.length <= 1514)).toBe(true);
  });

  it('without the option every data frame is at most one MSS and none is marked', () => {
    const w = new BackToBack(new NetStack(A), new NetStack(B));
    w.b.listenTcp(5001);
    const { out } = w.a.startTcpBulk(B.ip, 5001, 100_000, 0);
    let marked = 0;
    const pull = w.a.pullFrames.bind(w.a);
    w.a.pullFrames = (t, n) => {
      const o = pull(t, n);
      marked += o.frames.filter((f) => w.a.gsoSizeOf(f) !== undefined).length;
      return o;
    };
    w.put('a', out);
    w.run();
    expect(marked).toBe(0);
    expect(Math.max(...w.delivered.b.map((d) => d.frame.length))).toBe(1514);
  });

  it('recovers from loss with large segments', () => {
    const large: number[] = [];
    const a = withTso(new NetStack({ ...A, tsoMaxBytes: 30_000 }), large);
    const w = new BackToBack(a, new NetStack(B), { dropEvery: 50 });
    w.b.listenTcp(5001);
    const { flow, out } = w.a.startTcpBulk(B.ip, 5001, 300_000, 0);
    w.put('a', out);
    w.run();
    expect(w.b.flowStats(flow)).toMatchObject({ bytesDelivered: 300_000, corruptBytes: 0 });
    expect(w.a.flowStats(flow)!.retransmissions).toBeGreaterThan(0);
    expect(Math.max(...large)).toBeLessThanOrEqual(30_000);
  });

  it('never builds a segment a device would have to cut into more than TSO_MAX_SEGMENTS frames', () => {
    const large: number[] = [];
    const a = withTso(new NetStack({ ...A, mtu: 128, tsoMaxBytes: TSO_MAX_PAYLOAD }), large);
    const w = new BackToBack(a, new NetStack({ ...B, mtu: 128 }));
    w.b.listenTcp(5001);
    const { flow, out } = w.a.startTcpBulk(B.ip, 5001, 100_000, 0);
    w.put('a', out);
    w.run();
    expect(w.b.flowStats(flow)).toMatchObject({ bytesDelivered: 100_000 });
    expect(Math.max(...large)).toBeLessThanOrEqual(88 * TSO_MAX_SEGMENTS);
  });

  it('refuses a tsoMaxBytes beyond one IPv4 packet', () => {
    expect(() => new NetStack({ ...A, tsoMaxBytes: TSO_MAX_PAYLOAD + 1 })).toThrow(/tsoMaxBytes/);
  });
});
