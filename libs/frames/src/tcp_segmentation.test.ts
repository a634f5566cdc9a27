import { describe, expect, it } from 'vitest';
import { decodeEthernet } from './ethernet.js';
import { FrameError } from './frame_error.js';
import { buildIcmpEchoFrame, buildTcpFrame, buildUdpFrame } from './frame_builder.js';
import { decodeIpv4 } from './ipv4.js';
import { TCP_ACK, TCP_FIN, TCP_PSH, decodeTcp } from './tcp.js';
import { decodeUdp } from './udp.js';
import { checksummedBytes, completeL4Checksum, isOffloadableL4, segmentTcp, tcpPayloadBytes } from './tcp_segmentation.js';

const ends = { srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02', srcIp: '10.0.0.1', dstIp: '10.0.0.2' };
const payload = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + 3) & 0xff));

function bigSegment(n: number, flags = TCP_ACK | TCP_PSH | TCP_FIN, seq = 0xfffff000): Buffer {
  return buildTcpFrame({ ...ends, id: 0xfffe, flags: 2, segment: { srcPort: 40000, dstPort: 5001, seq, ack: 77, flags, window: 65535, payload: payload(n) } });
}

function decodeAll(frames: Buffer[]) {
  return frames.map((f) => {
    const ip = decodeIpv4(decodeEthernet(f).payload); // verifies the header checksum
    return { ip, tcp: decodeTcp(ip.payload, ip.src, ip.dst) }; // verifies the TCP checksum
  });
}

describe('TCP segmentation (TSO/GSO bytes)', () => {
  it('cuts a 64 KiB segment into MSS frames that each decode with correct checksums and reassemble the payload', () => {
    const big = bigSegment(44 * 1460 - 100);
    const frames = segmentTcp(big, 1460);
    expect(frames).toHaveLength(44);
    const d = decodeAll(frames);
    expect(Buffer.concat(d.map((x) => x.tcp.payload)).equals(payload(44 * 1460 - 100))).toBe(true);
    for (const [k, x] of d.entries()) {
      expect(x.tcp.payload.length).toBe(k < 43 ? 1460 : 1460 - 100);
      expect(x.tcp.seq).toBe((0xfffff000 + k * 1460) >>> 0); // wraps past 2^32
      expect(x.ip.id).toBe((0xfffe + k) & 0xffff);
      expect(frames[k]!.length).toBeLessThanOrEqual(1514);
    }
  });

  it('keeps FIN and PSH on the last frame only', () => {
    const d = decodeAll(segmentTcp(bigSegment(3000), 1460));
    expect(d.map((x) => x.tcp.flags & (TCP_FIN | TCP_PSH))).toEqual([0, 0, TCP_FIN | TCP_PSH]);
    expect(d.every((x) => (x.tcp.flags & TCP_ACK) !== 0)).toBe(true);
  });

  it('returns a segment that already fits as one frame', () => {
    const f = bigSegment(100);
    const out = segmentTcp(f, 1460);
    expect(out).toHaveLength(1);
    expect(out[0]!.equals(f)).toBe(true);
  });

  it('refuses what is not TCP over IPv4, and a bad MSS, with a FrameError', () => {
    const udp = buildUdpFrame({ ...ends, srcPort: 1, dstPort: 2, payload: payload(3000) });
    expect(() => segmentTcp(udp, 1460)).toThrow(FrameError);
    expect(() => segmentTcp(Buffer.alloc(30), 1460)).toThrow(FrameError);
    expect(() => segmentTcp(bigSegment(3000), 0)).toThrow(/MSS/);
    const cut = bigSegment(3000).subarray(0, 40);
    expect(() => segmentTcp(cut, 1460)).toThrow(FrameError);
  });

  it('completes a blanked TCP or UDP checksum in place', () => {
    const tcp = bigSegment(500);
    const good = Buffer.from(tcp);
    tcp.writeUInt16BE(0x1234, 14 + 20 + 16);
    completeL4Checksum(tcp);
    expect(tcp.equals(good)).toBe(true);
    const udp = buildUdpFrame({ ...ends, srcPort: 1, dstPort: 2, payload: payload(200) });
    udp.writeUInt16BE(0, 14 + 20 + 6);
    completeL4Checksum(udp);
    const ip = decodeIpv4(decodeEthernet(udp).payload);
    expect(decodeUdp(ip.payload, ip.src, ip.dst).payload.equals(payload(200))).toBe(true);
    expect(udp.readUInt16BE(14 + 20 + 6)).not.toBe(0);
  });

  it('says which bytes a checksum covers and which frames a device may complete', () => {
    const icmp = buildIcmpEchoFrame({ ...ends, id: 1, seq: 1, data: payload(56) });
    expect(checksummedBytes(bigSegment(1000))).toBe(1020);
    expect(checksummedBytes(icmp)).toBe(64);
    expect(isOffloadableL4(bigSegment(10))).toBe(true);
    expect(isOffloadableL4(icmp)).toBe(false);
    expect(() => completeL4Checksum(icmp)).toThrow(FrameError);
    expect(tcpPayloadBytes(bigSegment(1000))).toBe(1000);
    expect(tcpPayloadBytes(icmp)).toBe(0);
  });
});

describe('TCP segmentation bounds', () => {
  it('refuses to cut a segment into more than TSO_MAX_SEGMENTS frames', async () => {
    const { TSO_MAX_SEGMENTS } = await import('./tcp_segmentation.js');
    const f = buildTcpFrame({ ...ends, segment: { srcPort: 1, dstPort: 2, seq: 0, ack: 0, flags: TCP_ACK, window: 1, payload: payload(TSO_MAX_SEGMENTS + 1) } });
    expect(segmentTcp(f, 2)).toHaveLength(Math.ceil((TSO_MAX_SEGMENTS + 1) / 2));
    expect(() => segmentTcp(f, 1)).toThrow(/more than 256/);
  });
});
