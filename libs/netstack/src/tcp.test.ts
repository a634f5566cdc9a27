import { describe, it, expect } from 'vitest';
import { decodeEthernet, decodeIpv4, decodeTcp, ETHERTYPE_IPV4, TCP_SYN } from '@vnetlab/frames';
import { NetStack } from './net_stack.js';
import { DEFAULT_TCP_TIMERS } from './tcp_io.js';
import type { TcpSenderStats } from './tcp_bulk_sender.js';
import { BackToBack, type WireOptions } from './back_to_back.testkit.js';

const A = { mac: '02:00:00:00:00:0a', ip: '10.0.0.1' };
const B = { mac: '02:00:00:00:00:0b', ip: '10.0.0.2' };
const MB = 1 << 20;

function bulk(total: number, wire: WireOptions = {}, listen: { ackEvery?: number } = {}) {
  const w = new BackToBack(new NetStack(A), new NetStack(B), wire);
  w.b.listenTcp(5001, listen);
  const { flow, out } = w.a.startTcpBulk(B.ip, 5001, total, 0);
  w.put('a', out);
  w.run();
  return { w, flow };
}

function delivered(w: BackToBack): number {
  return w.eventsOf('b', 'tcp-data').reduce((n, e) => n + e.bytes, 0);
}

describe('TCP bulk', () => {
  it('delivers every byte of 1 MB in order exactly once, then FIN and tcp-sent-all', () => {
    const { w, flow } = bulk(MB);
    expect(delivered(w)).toBe(MB);
    expect(w.eventsOf('b', 'tcp-done')).toEqual([expect.objectContaining({ flow, bytes: MB })]);
    expect(w.eventsOf('a', 'tcp-sent-all')).toEqual([expect.objectContaining({ flow, bytes: MB })]);
    const rx = w.b.flowStats(flow)!;
    expect(rx).toMatchObject({ role: 'receiver', bytesDelivered: MB, corruptBytes: 0, state: 'closed' });
    const tx = w.a.flowStats(flow)!;
    expect(tx).toMatchObject({ role: 'sender', bytesSent: MB, bytesAcked: MB, retransmissions: 0, state: 'closed' });
    expect(w.b.stats().drops).toEqual({});
    expect(w.a.nextTimerNs()).toBeUndefined(); // nothing left armed
    expect(w.a.releaseFlow(flow)).toBe(true);
    expect(w.a.flowStats(flow)).toBeUndefined();
    expect(() => w.a.pullTcpFrames(w.now, 1, flow)).toThrow(expect.objectContaining({ reason: 'unknown_flow' }));
  });

  it('segments carry at most MSS = mtu - 40 bytes and the SYN offers that MSS', () => {
    const w = new BackToBack(new NetStack({ ...A, mtu: 1000 }), new NetStack({ ...B, mtu: 1000 }));
    w.b.listenTcp(5001);
    const { out } = w.a.startTcpBulk(B.ip, 5001, 20_000, 0);
    w.put('a', out);
    w.run();
    const sizes = w.delivered.b.map((d) => decodeEthernet(d.frame))
      .filter((eth) => eth.ethertype === ETHERTYPE_IPV4)
      .map((eth) => decodeIpv4(eth.payload))
      .filter((ip) => ip.protocol === 6)
      .map((ip) => decodeTcp(ip.payload, ip.src, ip.dst));
    expect(sizes.find((s) => s.flags & TCP_SYN)!.mss).toBe(960);
    expect(Math.max(...sizes.map((s) => s.payload.length))).toBe(960);
    expect(delivered(w)).toBe(20_000);
  });

  it('ACKs every second segment by default and every segment when asked', () => {
    const acks = (ackEvery?: number) => {
      const { w } = bulk(100 * 1460, {}, { ackEvery });
      return w.b.stats().framesOut;
    };
    const every2 = acks(), every1 = acks(1);
    expect(every1).toBeGreaterThan(every2 * 1.6);
  });

  it('with every 100th frame lost, still delivers every byte in order via retransmission', () => {
    const { w, flow } = bulk(MB, { dropEvery: 100 });
    expect(w.lostFrames).toBeGreaterThan(5);
    expect(delivered(w)).toBe(MB);
    expect(w.eventsOf('b', 'tcp-done')).toEqual([expect.objectContaining({ bytes: MB })]);
    expect(w.b.flowStats(flow)).toMatchObject({ bytesDelivered: MB, corruptBytes: 0 });
    const tx = w.a.flowStats(flow)!;
    expect(tx.bytesAcked).toBe(MB);
    expect(tx.retransmissions).toBeGreaterThan(0);
    expect(w.a.stats().retransmissions).toBe(tx.retransmissions);
    // conservation: every frame put on the wire was received or counted lost
    const sa = w.a.stats(), sb = w.b.stats();
    expect(sa.framesOut + sb.framesOut).toBe(w.wireFrames);
    expect(sa.framesIn + sb.framesIn + w.lostFrames).toBe(w.wireFrames);
    const t = tx.tcp as TcpSenderStats;
    expect(t.fastRetransmits + t.timeouts).toBeGreaterThan(0);
    // losses halve the window: the sender is no longer in unbounded slow start
    expect(t.ssthresh).toBeDefined();
  });

  it('survives heavy loss (every 7th frame) and still delivers every byte', () => {
    const { w, flow } = bulk(200_000, { dropEvery: 7 });
    expect(delivered(w)).toBe(200_000);
    expect(w.b.flowStats(flow)!.corruptBytes).toBe(0);
    expect(w.eventsOf('a', 'tcp-sent-all')).toHaveLength(1);
  });

  it('a receiver notices bytes that are not the flow pattern and counts them corrupt', () => {
    // Flip one payload byte and fix up nothing but the TCP checksum, as a buggy copy would.
    let flipped = false;
    const { w, flow } = bulk(30_000, {
      mangle: (f, from) => {
        if (flipped || from !== 'a' || f.length < 1000) return f;
        flipped = true;
        const ip = decodeIpv4(decodeEthernet(f).payload);
        const seg = decodeTcp(ip.payload, ip.src, ip.dst);
        const payload = Buffer.from(seg.payload);
        payload[10]! ^= 0xff;
        const frame = Buffer.from(f);
        payload.copy(frame, f.length - payload.length);
        // recompute the TCP checksum over the changed segment
        const tcpOff = 14 + 20;
        frame.writeUInt16BE(0, tcpOff + 16);
        frame.writeUInt16BE(tcpChecksum(frame.subarray(tcpOff), ip.src, ip.dst), tcpOff + 16);
        return frame;
      },
    });
    expect(flipped).toBe(true);
    expect(delivered(w)).toBe(30_000);
    expect(w.b.flowStats(flow)!.corruptBytes).toBe(1);
  });

  it('doubles the RTO on each timeout while the path is dead, and recovers when it returns', () => {
    let dead = true; // loses every data segment (the handshake's small frames get through)
    const w = new BackToBack(new NetStack(A), new NetStack(B), { mangle: (f) => (dead && f.length > 100 ? undefined : f) });
    w.b.listenTcp(5001);
    const { flow, out } = w.a.startTcpBulk(B.ip, 5001, 50_000, 0);
    w.put('a', out);
    w.run(1.5e9);
    const t = w.a.flowStats(flow)!.tcp as TcpSenderStats;
    // RTO 200 ms doubling: timeouts at +0.2, +0.6, +1.4 s after the first data segment
    expect(t.timeouts).toBe(3);
    expect(t.rtoNs).toBe(DEFAULT_TCP_TIMERS.initialRtoNs * 8);
    expect(t.cwnd).toBe(1460); // the loss window
    expect(t.retransmissions).toBe(3);
    dead = false;
    w.run();
    expect(delivered(w)).toBe(50_000);
    expect(w.a.flowStats(flow)!.bytesAcked).toBe(50_000);
  });

  it('recovers a lost SYN-ACK: the SYN is resent after the RTO and answered again', () => {
    let lost = 0;
    const isSynAck = (f: Buffer) => f.length >= 54 && f.readUInt16BE(12) === ETHERTYPE_IPV4 && f[23] === 6 && f[14 + 20 + 13] === 0x12;
    const { w, flow } = bulk(10_000, { mangle: (f, from) => (from === 'b' && isSynAck(f) && lost++ === 0 ? undefined : f) });
    expect(lost).toBe(2);
    expect(delivered(w)).toBe(10_000);
    expect(w.a.flowStats(flow)!.tcp).toMatchObject({ timeouts: 1, retransmissions: 1 });
    expect(w.b.stats().drops).toEqual({ tcp_duplicate: 1 }); // the resent SYN
  });

  it('recovers a lost handshake ACK: the first data segment completes the handshake', () => {
    let lost = false;
    const isPureAck = (f: Buffer) => f.length === 54 && f.readUInt16BE(12) === ETHERTYPE_IPV4 && f[14 + 20 + 13] === 0x10;
    const { w } = bulk(10_000, { mangle: (f, from) => (from === 'a' && !lost && isPureAck(f) ? ((lost = true), undefined) : f) });
    expect(lost).toBe(true);
    expect(delivered(w)).toBe(10_000);
    expect(w.b.stats().drops).toEqual({});
  });

  it('a lone in-order segment is ACKed by the delayed-ACK timer', () => {
    const a = new NetStack(A), b = new NetStack(B);
    b.listenTcp(5001);
    const { flow, out } = a.startTcpBulk(B.ip, 5001, 3 * 1460 + 10, 0);
    // hand-carry ARP and the handshake
    let toB = out.frames, t = 0;
    while (!a.canSend(flow)) {
      const back = toB.flatMap((f) => b.receive(f, ++t).frames);
      toB = back.flatMap((f) => a.receive(f, ++t).frames);
    }
    const data = a.pullTcpFrames(t, 1, flow).frames;
    const res = b.receive(data[0]!, ++t);
    expect(res.frames).toHaveLength(0);            // first of two: ACK held back
    expect(res.events).toEqual([{ kind: 'tcp-data', flow, bytes: 1460, tNs: t }]);
    expect(b.nextTimerNs()).toBe(t + DEFAULT_TCP_TIMERS.delayedAckNs);
    const fired = b.fireTimers(b.nextTimerNs()!);
    expect(fired.frames).toHaveLength(1);
    const ip = decodeIpv4(decodeEthernet(fired.frames[0]!).payload);
    const ack = decodeTcp(ip.payload, ip.src, ip.dst);
    expect(ack.payload.length).toBe(0);
    const sentNs = t - 1; // the segment left at the t before b received it
    const ackedAt = t + 1;
    // the ACK of the timed segment is the sender's round-trip sample, and its only news
    expect(a.receive(fired.frames[0]!, ackedAt).events).toEqual([{ kind: 'tcp-rtt', flow, rttNs: ackedAt - sentNs, tNs: ackedAt }]);
    expect(a.flowStats(flow)!.bytesAcked).toBe(1460);
    expect(b.nextTimerNs()).toBeUndefined();
  });

  it('a SYN to a port nobody listens on is reset and the sender reports tcp-failed', () => {
    const w = new BackToBack(new NetStack(A), new NetStack(B));
    const { flow, out } = w.a.startTcpBulk(B.ip, 6000, 1000, 0);
    w.put('a', out);
    w.run();
    expect(w.eventsOf('b', 'drop')).toEqual([expect.objectContaining({ reason: 'tcp_no_listener' })]);
    expect(w.eventsOf('a', 'tcp-failed')).toEqual([expect.objectContaining({ flow, reason: 'reset' })]);
    expect(w.a.canSend()).toBe(false);
  });

  it('the owner paces a flow: pullTcpFrames never exceeds maxFrames nor the window', () => {
    const w = new BackToBack(new NetStack(A), new NetStack(B));
    w.b.listenTcp(5001);
    const { flow, out } = w.a.startTcpBulk(B.ip, 5001, MB, 0);
    w.put('a', out);
    // deliver frames and timers by hand, without the harness pulling
    const a = w.a, b = w.b;
    let toB = out.frames, t = 0;
    for (let i = 0; i < 4 && !a.canSend(flow); i++) {
      const back = toB.flatMap((f) => b.receive(f, ++t).frames);
      toB = back.flatMap((f) => a.receive(f, ++t).frames);
    }
    expect(a.canSend(flow)).toBe(true);
    expect(a.pullTcpFrames(t, 2, flow).frames).toHaveLength(2);
    const rest = a.pullTcpFrames(t, 1000, flow).frames;
    expect(rest.length).toBe(1); // initial window: 3 segments of 1460 (RFC 5681)
    expect(a.canSend(flow)).toBe(false);
  });
});

function tcpChecksum(seg: Buffer, src: string, dst: string): number {
  const words = (b: Buffer) => { let s = 0; for (let i = 0; i < b.length; i += 2) s += (b[i]! << 8) | (b[i + 1] ?? 0); return s; };
  const ip = (s: string) => Buffer.from(s.split('.').map(Number));
  let sum = words(ip(src)) + words(ip(dst)) + 6 + seg.length + words(seg);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return (~sum) & 0xffff;
}
