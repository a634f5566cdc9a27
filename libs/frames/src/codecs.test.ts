import { describe, it, expect } from 'vitest';
import {
  decodeArp, decodeEthernet, decodeIcmp, decodeIpv4, decodeTcp, decodeUdp, encodeArp, encodeEthernet,
  encodeIcmpEcho, encodeIpv4, encodeTcp, encodeUdp, FrameError, IPPROTO_UDP, TCP_ACK, TCP_SYN, ETHERTYPE_IPV4,
} from './index.js';
import { finishChecksum, pseudoHeaderSum, sumWords } from './checksum.js';

function reasonOf(fn: () => unknown): string | undefined {
  try { fn(); } catch (e) { if (e instanceof FrameError) return e.reason; throw e; }
  return undefined;
}

describe('Ethernet II', () => {
  it('round-trips destination, source, ethertype and payload', () => {
    const f = { dst: 'ff:ff:ff:ff:ff:ff', src: '02:00:00:00:01:01', ethertype: ETHERTYPE_IPV4, payload: Buffer.from('abc') };
    const bytes = encodeEthernet(f);
    expect(bytes.length).toBe(17);
    expect(bytes.subarray(0, 14).toString('hex')).toBe('ffffffffffff020000000101' + '0800');
    expect(decodeEthernet(bytes)).toEqual(f);
  });

  it('rejects fewer than 14 bytes as truncated', () => {
    expect(reasonOf(() => decodeEthernet(Buffer.alloc(13)))).toBe('truncated');
  });
});

describe('ARP', () => {
  it('round-trips a request and ignores Ethernet padding behind it', () => {
    const p = { op: 1 as const, senderMac: '02:00:00:00:01:01', senderIp: '10.0.0.1', targetMac: '00:00:00:00:00:00', targetIp: '10.0.0.2' };
    const padded = Buffer.concat([encodeArp(p), Buffer.alloc(18)]);
    expect(decodeArp(padded)).toEqual(p);
  });

  it('refuses ARP that is not IPv4 over Ethernet and short packets', () => {
    const b = encodeArp({ op: 2, senderMac: '02:00:00:00:01:01', senderIp: '10.0.0.1', targetMac: '02:00:00:00:01:02', targetIp: '10.0.0.2' });
    b.writeUInt16BE(0x86dd, 2);
    expect(reasonOf(() => decodeArp(b))).toBe('unsupported');
    expect(reasonOf(() => decodeArp(b.subarray(0, 27)))).toBe('truncated');
  });
});

describe('IPv4', () => {
  // The classic example header: 4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7
  const known = '450000730000400040110000c0a80001c0a800c7'.replace('0000c0a8', 'b861c0a8');

  it('encodes the known example header byte for byte, checksum b861 included', () => {
    const b = encodeIpv4({ src: '192.168.0.1', dst: '192.168.0.199', protocol: IPPROTO_UDP, ttl: 64, id: 0, flags: 2, payload: Buffer.alloc(0x73 - 20) });
    expect(b.subarray(0, 20).toString('hex')).toBe(known);
  });

  it('round-trips and cuts the payload at total length (Ethernet padding dropped)', () => {
    const p = { src: '10.0.0.1', dst: '10.0.0.2', protocol: 253, ttl: 17, id: 4242, dscp: 46, flags: 0, payload: Buffer.from('payload') };
    const d = decodeIpv4(Buffer.concat([encodeIpv4(p), Buffer.alloc(10)]));
    expect(d).toEqual({ ...p, fragmentOffset: 0 });
  });

  it('detects a corrupted header checksum', () => {
    const b = encodeIpv4({ src: '10.0.0.1', dst: '10.0.0.2', protocol: 17, ttl: 64, id: 1, payload: Buffer.alloc(4) });
    b[8] = 63; // ttl changed in flight without fixing the checksum
    expect(reasonOf(() => decodeIpv4(b))).toBe('bad_checksum');
  });

  it('rejects truncated input, a wrong version, a short IHL and lying total lengths', () => {
    const good = encodeIpv4({ src: '10.0.0.1', dst: '10.0.0.2', protocol: 17, ttl: 64, id: 1, payload: Buffer.alloc(8) });
    expect(reasonOf(() => decodeIpv4(good.subarray(0, 19)))).toBe('truncated');
    const v6 = Buffer.from(good); v6[0] = 0x65;
    expect(reasonOf(() => decodeIpv4(v6))).toBe('bad_version');
    const ihl = Buffer.from(good); ihl[0] = 0x44;
    expect(reasonOf(() => decodeIpv4(ihl))).toBe('bad_length');
    expect(reasonOf(() => decodeIpv4(good.subarray(0, 27)))).toBe('bad_length');
    const short = Buffer.from(good); short.writeUInt16BE(19, 2);
    expect(reasonOf(() => decodeIpv4(short))).toBe('bad_length');
  });

  it('refuses to encode a packet longer than 65535 bytes or a ttl above 255', () => {
    expect(reasonOf(() => encodeIpv4({ src: '10.0.0.1', dst: '10.0.0.2', protocol: 17, ttl: 64, id: 1, payload: Buffer.alloc(65516) }))).toBe('bad_length');
    expect(reasonOf(() => encodeIpv4({ src: '10.0.0.1', dst: '10.0.0.2', protocol: 17, ttl: 256, id: 1, payload: Buffer.alloc(1) }))).toBe('bad_field');
  });
});

describe('ICMP echo', () => {
  it('matches an independently computed checksum (0x2104) and round-trips', () => {
    const p = { type: 8 as const, code: 0 as const, id: 0x1234, seq: 1, data: Buffer.from('abcd') };
    const b = encodeIcmpEcho(p);
    expect(b.readUInt16BE(2)).toBe(0x2104);
    expect(decodeIcmp(b)).toEqual(p);
  });

  it('detects a flipped data bit and refuses non-echo types', () => {
    const b = encodeIcmpEcho({ type: 0, code: 0, id: 1, seq: 2, data: Buffer.from('xyz') });
    const bad = Buffer.from(b); bad[9]! ^= 1;
    expect(reasonOf(() => decodeIcmp(bad))).toBe('bad_checksum');
    const unreach = Buffer.from('0301000000000000', 'hex');
    unreach.writeUInt16BE(~0x0301 & 0xffff, 2);
    expect(reasonOf(() => decodeIcmp(unreach))).toBe('unsupported');
    expect(reasonOf(() => decodeIcmp(Buffer.alloc(7)))).toBe('truncated');
  });
});

describe('UDP', () => {
  it('matches an independently computed pseudo-header checksum (0x80ec) and round-trips', () => {
    const d = { srcPort: 5001, dstPort: 5002, payload: Buffer.from('hello') };
    const b = encodeUdp(d, '10.0.0.1', '10.0.0.2');
    expect(b.readUInt16BE(6)).toBe(0x80ec);
    expect(decodeUdp(b, '10.0.0.1', '10.0.0.2')).toEqual(d);
  });

  it('the pseudo header binds the addresses: the same bytes fail for another destination', () => {
    const b = encodeUdp({ srcPort: 1, dstPort: 2, payload: Buffer.from('x') }, '10.0.0.1', '10.0.0.2');
    expect(reasonOf(() => decodeUdp(b, '10.0.0.1', '10.0.0.3'))).toBe('bad_checksum');
  });

  it('accepts checksum 0 as "none sent", and rejects bad length fields', () => {
    const b = encodeUdp({ srcPort: 1, dstPort: 2, payload: Buffer.from('abc') }, '10.0.0.1', '10.0.0.2');
    b.writeUInt16BE(0, 6); b[8] = 0x7a;
    expect(decodeUdp(b, '10.0.0.9', '10.0.0.9').payload.toString()).toBe('zbc');
    const long = Buffer.from(b); long.writeUInt16BE(12, 4);
    expect(reasonOf(() => decodeUdp(long, '10.0.0.1', '10.0.0.2'))).toBe('bad_length');
    const tiny = Buffer.from(b); tiny.writeUInt16BE(7, 4);
    expect(reasonOf(() => decodeUdp(tiny, '10.0.0.1', '10.0.0.2'))).toBe('bad_length');
    expect(reasonOf(() => decodeUdp(b.subarray(0, 7), '10.0.0.1', '10.0.0.2'))).toBe('truncated');
  });
});

describe('TCP', () => {
  it('matches an independently computed checksum (0xff4e) for a bare SYN', () => {
    const b = encodeTcp({ srcPort: 40000, dstPort: 80, seq: 1, ack: 0, flags: TCP_SYN, window: 65535, payload: Buffer.alloc(0) }, '10.0.0.1', '10.0.0.2');
    expect(b.length).toBe(20);
    expect(b.readUInt16BE(16)).toBe(0xff4e);
  });

  it('round-trips a data segment and the MSS option', () => {
    const s = { srcPort: 40000, dstPort: 5001, seq: 0xfffffff0, ack: 7, flags: TCP_ACK | TCP_SYN, window: 29200, payload: Buffer.from('data!'), mss: 1460 };
    const b = encodeTcp(s, '10.0.0.1', '10.0.0.2');
    expect(b[12]! >> 4).toBe(6);
    expect(decodeTcp(b, '10.0.0.1', '10.0.0.2')).toEqual(s);
  });

  it('skips unknown options by the data offset', () => {
    const s = { srcPort: 1, dstPort: 2, seq: 3, ack: 4, flags: TCP_ACK, window: 5, payload: Buffer.from('p') };
    const plain = encodeTcp(s, '10.0.0.1', '10.0.0.2');
    // rebuild with a 12-byte option block: NOP NOP TIMESTAMP(10)
    const opts = Buffer.from('0101080a0000000100000002', 'hex');
    const b = Buffer.concat([plain.subarray(0, 20), opts, plain.subarray(20)]);
    b[12] = (8 << 4); b.writeUInt16BE(0, 16);
    b.writeUInt16BE(finishChecksum(sumWords(b, 0, b.length, pseudoHeaderSum(0x0a000001, 0x0a000002, 6, b.length))), 16);
    const d = decodeTcp(b, '10.0.0.1', '10.0.0.2');
    expect(d.payload.toString()).toBe('p');
    expect(d.mss).toBeUndefined();
  });

  it('detects corruption and a data offset beyond the segment', () => {
    const b = encodeTcp({ srcPort: 1, dstPort: 2, seq: 3, ack: 4, flags: TCP_ACK, window: 5, payload: Buffer.from('hello') }, '10.0.0.1', '10.0.0.2');
    const bad = Buffer.from(b); bad[22]! ^= 0x40;
    expect(reasonOf(() => decodeTcp(bad, '10.0.0.1', '10.0.0.2'))).toBe('bad_checksum');
    const off = Buffer.from(b); off[12] = 0xf0;
    expect(reasonOf(() => decodeTcp(off, '10.0.0.1', '10.0.0.2'))).toBe('bad_length');
    expect(reasonOf(() => decodeTcp(b.subarray(0, 19), '10.0.0.1', '10.0.0.2'))).toBe('truncated');
  });
});
