import { ipToNumber, numberToIp, type Ip } from './address.js';
import { finishChecksum, sumWords } from './checksum.js';
import { FrameError, checkUint, needBytes } from './frame_error.js';

export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPV4_HEADER_LEN = 20;
export const IPV4_FLAG_DF = 2;
export const IPV4_FLAG_MF = 1;
const IPV4_MAX_LEN = 0xffff;

export interface Ipv4Packet {
  src: Ip; dst: Ip; protocol: number; ttl: number; id: number; payload: Buffer;
  dscp?: number;           // 6 bits
  flags?: number;          // 3 bits: DF=2, MF=1
  fragmentOffset?: number; // in 8-byte units; set by decode
}

export function encodeIpv4(p: Ipv4Packet): Buffer {
  const out = Buffer.allocUnsafe(IPV4_HEADER_LEN + p.payload.length);
  writeIpv4Header(out, 0, p, p.payload.length);
  p.payload.copy(out, IPV4_HEADER_LEN);
  return out;
}

/** Writes a 20-byte header (no options) for a payload of `payloadLen` bytes, checksum included. */
export function writeIpv4Header(
  out: Buffer, off: number,
  p: { src: Ip; dst: Ip; protocol: number; ttl: number; id: number; dscp?: number; flags?: number },
  payloadLen: number,
): void {
  const total = IPV4_HEADER_LEN + payloadLen;
  if (total > IPV4_MAX_LEN) throw new FrameError('bad_length', `IPv4 total length ${total} exceeds ${IPV4_MAX_LEN}`);
  checkUint(p.protocol, 0xff, 'IPv4 protocol');
  checkUint(p.ttl, 0xff, 'IPv4 ttl');
  checkUint(p.id, 0xffff, 'IPv4 id');
  const dscp = p.dscp ?? 0, flags = p.flags ?? 0;
  checkUint(dscp, 0x3f, 'IPv4 dscp');
  checkUint(flags, 7, 'IPv4 flags');
  out[off] = 0x45; // version 4, IHL 5
  out[off + 1] = dscp << 2;
  out.writeUInt16BE(total, off + 2);
  out.writeUInt16BE(p.id, off + 4);
  out.writeUInt16BE(flags << 13, off + 6);
  out[off + 8] = p.ttl;
  out[off + 9] = p.protocol;
  out.writeUInt16BE(0, off + 10);
  out.writeUInt32BE(ipToNumber(p.src), off + 12);
  out.writeUInt32BE(ipToNumber(p.dst), off + 16);
  out.writeUInt16BE(finishChecksum(sumWords(out, off, off + IPV4_HEADER_LEN)), off + 10);
}

/**
 * Verifies version, IHL, total length and header checksum. Options are skipped. The payload
 * is a view into `b` cut at the total length, so Ethernet padding is dropped.
 */
export function decodeIpv4(b: Buffer): Ipv4Packet {
  needBytes(b, IPV4_HEADER_LEN, 'IPv4 header');
  const version = b[0]! >> 4;
  if (version !== 4) throw new FrameError('bad_version', `IPv4 version field is ${version}`);
  const hlen = (b[0]! & 0x0f) * 4;
  if (hlen < IPV4_HEADER_LEN) throw new FrameError('bad_length', `IPv4 IHL ${hlen / 4} is below 5`);
  needBytes(b, hlen, 'IPv4 header with options');
  const total = b.readUInt16BE(2);
  if (total < hlen) throw new FrameError('bad_length', `IPv4 total length ${total} is shorter than its header (${hlen})`);
  if (total > b.length) throw new FrameError('bad_length', `IPv4 total length ${total} exceeds the ${b.length} bytes received`);
  if (finishChecksum(sumWords(b, 0, hlen)) !== 0) {
    throw new FrameError('bad_checksum', `IPv4 header checksum 0x${b.readUInt16BE(10).toString(16)} does not verify`);
  }
  const fragWord = b.readUInt16BE(6);
  return {
    src: numberToIp(b.readUInt32BE(12)),
    dst: numberToIp(b.readUInt32BE(16)),
    protocol: b[9]!,
    ttl: b[8]!,
    id: b.readUInt16BE(4),
    dscp: b[1]! >> 2,
    flags: fragWord >> 13,
    fragmentOffset: fragWord & 0x1fff,
    payload: b.subarray(hlen, total),
  };
}
