import { ipToNumber, type Ip } from './address.js';
import { finishChecksum, pseudoHeaderSum, sumWords } from './checksum.js';
import { FrameError, checkUint, needBytes } from './frame_error.js';
import { IPPROTO_UDP } from './ipv4.js';

export const UDP_HEADER_LEN = 8;

export interface UdpDatagram { srcPort: number; dstPort: number; payload: Buffer }

export function encodeUdp(d: UdpDatagram, src: Ip, dst: Ip): Buffer {
  const out = Buffer.allocUnsafe(UDP_HEADER_LEN + d.payload.length);
  d.payload.copy(out, UDP_HEADER_LEN);
  writeUdpHeader(d, src, dst, out, 0, out.length);
  return out;
}

/** Writes the header at `off`; the payload must already sit behind it (the checksum covers it). */
export function writeUdpHeader(d: { srcPort: number; dstPort: number }, src: Ip, dst: Ip, out: Buffer, off: number, len: number): void {
  checkUint(d.srcPort, 0xffff, 'UDP source port');
  checkUint(d.dstPort, 0xffff, 'UDP destination port');
  if (len > 0xffff) throw new FrameError('bad_length', `UDP length ${len} exceeds 65535`);
  out.writeUInt16BE(d.srcPort, off);
  out.writeUInt16BE(d.dstPort, off + 2);
  out.writeUInt16BE(len, off + 4);
  out.writeUInt16BE(0, off + 6);
  const sum = sumWords(out, off, off + len, pseudoHeaderSum(ipToNumber(src), ipToNumber(dst), IPPROTO_UDP, len));
  // A computed 0 is sent as 0xffff: 0 on the wire means "no checksum" (RFC 768).
  out.writeUInt16BE(finishChecksum(sum) || 0xffff, off + 6);
}

/** Verifies the length field and, unless it is 0 (none sent), the checksum. `payload` is a view. */
export function decodeUdp(b: Buffer, src: Ip, dst: Ip): UdpDatagram {
  needBytes(b, UDP_HEADER_LEN, 'UDP header');
  const len = b.readUInt16BE(4);
  if (len < UDP_HEADER_LEN || len > b.length) throw new FrameError('bad_length', `UDP length ${len} does not fit the ${b.length} bytes received`);
  if (b.readUInt16BE(6) !== 0) {
    const sum = sumWords(b, 0, len, pseudoHeaderSum(ipToNumber(src), ipToNumber(dst), IPPROTO_UDP, len));
    if (finishChecksum(sum) !== 0) throw new FrameError('bad_checksum', `UDP checksum 0x${b.readUInt16BE(6).toString(16)} does not verify`);
  }
  return { srcPort: b.readUInt16BE(0), dstPort: b.readUInt16BE(2), payload: b.subarray(UDP_HEADER_LEN, len) };
}
