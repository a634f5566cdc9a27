import { describe, it, expect } from 'vitest';
import { decodeEthernet, decodeIpv4, encodeEthernet, encodeIpv4, ETHERTYPE_IPV4 } from '@vnetlab/frames';
import { NetStack } from './net_stack.js';
import { NetStackError } from './netstack_error.js';
import { BackToBack } from './back_to_back.testkit.js';

const A = { mac: '02:00:00:00:00:0a', ip: '10.0.0.1' };
const B = { mac: '02:00:00:00:00:0b', ip: '10.0.0.2' };

function resolved(): BackToBack {
  const w = new BackToBack(new NetStack(A), new NetStack(B));
  w.put('a', w.a.ping(B.ip, 1, 0));
  w.run();
  return w;
}

describe('IPv4', () => {
  it('drops a frame whose IPv4 header checksum does not verify, with reason bad_checksum', () => {
    const w = resolved();
    w.b.bindUdp(9);
    const frame = w.a.sendUdp(B.ip, 1000, 9, Buffer.from('hello'), w.now).frames[0]!;
    const bad = Buffer.from(frame);
    bad[14 + 8]! -= 1; // TTL changed, checksum not updated
    const out = w.b.receive(bad, w.now);
    expect(out.events).toEqual([{ kind: 'drop', reason: 'bad_checksum' }]);
    expect(w.b.stats().drops.bad_checksum).toBe(1);
    // the intact frame is delivered
    expect(w.b.receive(frame, w.now).events[0]).toMatchObject({ kind: 'udp', dstPort: 9 });
  });

  it('sends TTL 64 with DF and accepts only its own address', () => {
    const w = resolved();
    const frame = w.a.sendUdp(B.ip, 1000, 9, Buffer.from('x'), w.now).frames[0]!;
    const ip = decodeIpv4(decodeEthernet(frame).payload);
    expect(ip.ttl).toBe(64);
    expect(ip.flags).toBe(2);
    const elsewhere = encodeEthernet({ dst: B.mac, src: A.mac, ethertype: ETHERTYPE_IPV4,
      payload: encodeIpv4({ ...ip, dst: '10.0.0.77' }) });
    expect(w.b.receive(elsewhere, w.now).events).toEqual([{ kind: 'drop', reason: 'not_for_us' }]);
    const otherMac = Buffer.from(frame);
    otherMac[5] = 0x77;
    expect(w.b.receive(otherMac, w.now).events).toEqual([{ kind: 'drop', reason: 'not_for_us' }]);
  });

  it('reports truncated and foreign frames as drops instead of throwing', () => {
    const b = new NetStack(B);
    expect(b.receive(Buffer.alloc(5), 0).events).toEqual([{ kind: 'drop', reason: 'truncated' }]);
    const ipv6 = encodeEthernet({ dst: B.mac, src: A.mac, ethertype: 0x86dd, payload: Buffer.alloc(40) });
    expect(b.receive(ipv6, 0).events).toEqual([{ kind: 'drop', reason: 'unknown_ethertype' }]);
    expect(b.stats().framesIn).toBe(2);
  });

  it('refuses payloads larger than mtu - 20 (no fragmentation) and bad arguments with a typed error', () => {
    const a = new NetStack({ ...A, mtu: 1000 });
    expect(() => a.sendUdp(B.ip, 1, 2, Buffer.alloc(1000 - 28 + 1), 0)).toThrow(expect.objectContaining({ reason: 'too_big' }));
    expect(() => a.sendUdp(B.ip, 1, 2, Buffer.alloc(1000 - 28), 0)).not.toThrow();
    expect(() => a.ping(B.ip, 1, 0, 1000 - 28 + 1)).toThrow(NetStackError);
    expect(() => a.ping('10.0.0', 1, 0)).toThrow(expect.objectContaining({ reason: 'bad_argument' }));
    expect(() => a.sendUdp(B.ip, 0, 2, Buffer.alloc(1), 0)).toThrow(expect.objectContaining({ reason: 'bad_argument' }));
    expect(() => new NetStack({ mac: 'nope', ip: A.ip })).toThrow(NetStackError);
  });
});
