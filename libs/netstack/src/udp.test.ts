import { describe, it, expect } from 'vitest';
import { NetStack } from './net_stack.js';
import { BytePattern, flowSeed } from './byte_pattern.js';
import { BackToBack } from './back_to_back.testkit.js';

const A = { mac: '02:00:00:00:00:0a', ip: '10.0.0.1' };
const B = { mac: '02:00:00:00:00:0b', ip: '10.0.0.2' };

describe('UDP', () => {
  it('delivers a datagram to a bound port and drops one to an unbound port as port_unreachable', () => {
    const w = new BackToBack(new NetStack(A), new NetStack(B));
    w.b.bindUdp(5001);
    w.put('a', w.a.sendUdp(B.ip, 4000, 5001, Buffer.from('to a bound port'), 0));
    w.run();
    w.put('a', w.a.sendUdp(B.ip, 4000, 5002, Buffer.from('to nobody'), w.now));
    w.run();
    const got = w.eventsOf('b', 'udp');
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({ from: A.ip, srcPort: 4000, dstPort: 5001 });
    expect(got[0]!.payload.toString()).toBe('to a bound port');
    expect(w.eventsOf('b', 'drop')).toEqual([expect.objectContaining({ reason: 'port_unreachable' })]);
    expect(w.b.stats().drops).toEqual({ port_unreachable: 1 });
    const rx = w.b.flowStats(`udp:${A.ip}:4000>${B.ip}:5001`)!;
    expect(rx).toMatchObject({ role: 'receiver', bytesDelivered: 15, datagrams: 1 });
  });

  it('refuses a second bind of the same port', () => {
    const b = new NetStack(B);
    b.bindUdp(53);
    expect(() => b.bindUdp(53)).toThrow(expect.objectContaining({ reason: 'port_in_use' }));
  });

  it('a UDP bulk flow is pulled frame by frame and delivers its pattern bytes, counted per flow', () => {
    const w = new BackToBack(new NetStack(A), new NetStack(B));
    w.b.bindUdp(9000);
    const total = 50_000, msg = 1400;
    const { flow } = w.a.startUdpBulk(B.ip, 9000, total, msg);
    // The first pull triggers ARP; the flow then holds back until the peer is resolved.
    const first = w.a.nextUdpBulkFrame(flow, 0);
    expect(first.frames).toHaveLength(1);
    expect(w.a.canSend(flow)).toBe(false);
    w.put('a', first);
    w.run();
    expect(w.a.udpBulkDone(flow)).toBe(true);
    const got = Buffer.concat(w.eventsOf('b', 'udp').map((e) => e.payload));
    expect(got.length).toBe(total);
    expect(got.equals(new BytePattern(flowSeed(flow)).bytes(0, total))).toBe(true);
    expect(w.eventsOf('b', 'udp')).toHaveLength(Math.ceil(total / msg));
    expect(w.a.flowStats(flow)).toMatchObject({ role: 'sender', bytesSent: total, state: 'done' });
    expect(w.a.nextUdpBulkFrame(flow, w.now).frames).toHaveLength(0);
  });
});
