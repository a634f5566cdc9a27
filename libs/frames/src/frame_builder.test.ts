import { describe, it, expect } from 'vitest';
import {
  buildArpFrame, buildIcmpEchoFrame, buildTcpFrame, buildUdpFrame, describeFrame, encodeEthernet, encodeIpv4, encodeUdp,
  encodeIcmpEcho, parseFrame, FrameError, ETHERTYPE_IPV4, IPPROTO_UDP, IPPROTO_ICMP, TCP_SYN, TCP_ACK,
} from './index.js';

const ends = { srcMac: '02:00:00:00:01:01', dstMac: '02:00:00:00:01:02', srcIp: '10.0.0.1', dstIp: '10.0.0.2' };

describe('one-allocation frame builders', () => {
  it('buildUdpFrame gives the same bytes as encoding layer by layer', () => {
    const payload = Buffer.from('some udp payload');
    const layered = encodeEthernet({
      dst: ends.dstMac, src: ends.srcMac, ethertype: ETHERTYPE_IPV4,
      payload: encodeIpv4({ src: ends.srcIp, dst: ends.dstIp, protocol: IPPROTO_UDP, ttl: 64, id: 77,
        payload: encodeUdp({ srcPort: 5001, dstPort: 6001, payload }, ends.srcIp, ends.dstIp) }),
    });
    expect(buildUdpFrame({ ...ends, srcPort: 5001, dstPort: 6001, payload, id: 77 }).equals(layered)).toBe(true);
  });

  it('buildIcmpEchoFrame gives the same bytes as encoding layer by layer', () => {
    const data = Buffer.alloc(56, 0x61);
    const layered = encodeEthernet({
      dst: ends.dstMac, src: ends.srcMac, ethertype: ETHERTYPE_IPV4,
      payload: encodeIpv4({ src: ends.srcIp, dst: ends.dstIp, protocol: IPPROTO_ICMP, ttl: 64, id: 9,
        payload: encodeIcmpEcho({ type: 8, code: 0, id: 3, seq: 4, data }) }),
    });
    expect(buildIcmpEchoFrame({ ...ends, id: 3, seq: 4, data, ipId: 9 }).equals(layered)).toBe(true);
  });

  it('parseFrame decodes every layer of built frames', () => {
    const udp = parseFrame(buildUdpFrame({ ...ends, srcPort: 1, dstPort: 2, payload: Buffer.from('hi') }));
    expect(udp.ipv4?.src).toBe('10.0.0.1');
    expect(udp.udp?.payload.toString()).toBe('hi');
    const tcp = parseFrame(buildTcpFrame({ ...ends, segment: { srcPort: 3, dstPort: 4, seq: 5, ack: 6, flags: TCP_SYN | TCP_ACK, window: 100, payload: Buffer.alloc(0), mss: 1460 } }));
    expect(tcp.tcp?.mss).toBe(1460);
    const arp = parseFrame(buildArpFrame({ op: 1, senderMac: ends.srcMac, senderIp: ends.srcIp, targetMac: '00:00:00:00:00:00', targetIp: ends.dstIp }));
    expect(arp.eth.dst).toBe('ff:ff:ff:ff:ff:ff');
    expect(arp.arp?.targetIp).toBe('10.0.0.2');
    const ping = parseFrame(buildIcmpEchoFrame({ ...ends, type: 0, id: 1, seq: 2, data: Buffer.from('x') }));
    expect(ping.icmp).toMatchObject({ type: 0, id: 1, seq: 2 });
  });

  it('parseFrame throws FrameError for a corrupted inner layer', () => {
    const f = buildUdpFrame({ ...ends, srcPort: 1, dstPort: 2, payload: Buffer.from('hello') });
    f[f.length - 1]! ^= 0xff;
    expect(() => parseFrame(f)).toThrow(FrameError);
    expect(() => parseFrame(Buffer.alloc(5))).toThrow(/truncated/);
  });

  it('builders refuse bad input with a FrameError instead of writing garbage', () => {
    expect(() => buildUdpFrame({ ...ends, srcPort: 70000, dstPort: 2, payload: Buffer.alloc(0) })).toThrow(/bad_field/);
    expect(() => buildUdpFrame({ ...ends, srcIp: '10.0.0', srcPort: 1, dstPort: 2, payload: Buffer.alloc(0) })).toThrow(/bad_address/);
  });
});

describe('describeFrame', () => {
  it('names addresses, protocol, ports and payload length on one line', () => {
    const line = describeFrame(buildUdpFrame({ ...ends, srcPort: 5001, dstPort: 5001, payload: Buffer.alloc(1472) }));
    expect(line).toBe('02:00:00:00:01:01→02:00:00:00:01:02 IPv4 10.0.0.1→10.0.0.2 UDP 5001→5001 len 1472');
    expect(line).not.toContain('\n');
  });

  it('describes ARP, ICMP and TCP', () => {
    expect(describeFrame(buildArpFrame({ op: 1, senderMac: ends.srcMac, senderIp: '10.0.0.1', targetMac: '00:00:00:00:00:00', targetIp: '10.0.0.2' }))).toContain('ARP who-has 10.0.0.2 tell 10.0.0.1');
    expect(describeFrame(buildIcmpEchoFrame({ ...ends, id: 1, seq: 7, data: Buffer.alloc(56) }))).toContain('ICMP echo request id 1 seq 7 len 56');
    expect(describeFrame(buildTcpFrame({ ...ends, segment: { srcPort: 1, dstPort: 2, seq: 10, ack: 0, flags: TCP_SYN, window: 9, payload: Buffer.alloc(0) } }))).toContain('TCP 1→2 [S]');
  });

  it('never throws: a bad frame is described with its reason', () => {
    expect(describeFrame(Buffer.alloc(3))).toBe('malformed (truncated) 3 bytes');
    const f = buildUdpFrame({ ...ends, srcPort: 1, dstPort: 2, payload: Buffer.from('x') });
    f[14 + 8] = 1; // ttl rewritten, IP checksum now wrong
    expect(describeFrame(f)).toContain('malformed (bad_checksum)');
  });
});
