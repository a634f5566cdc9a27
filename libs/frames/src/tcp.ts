import { ipToNumber, type Ip } from './address.js';
import { finishChecksum, pseudoHeaderSum, sumWords } from './checksum.js';
import { FrameError, checkUint, needBytes } from './frame_error.js';
import { IPPROTO_TCP } from './ipv4.js';

export const TCP_FIN = 1, TCP_SYN = 2, TCP_RST = 4, TCP_PSH = 8, TCP_ACK = 16, TCP_URG = 32;
export const TCP_HEADER_LEN = 20;
const TCPOPT_EOL = 0, TCPOPT_NOP = 1, TCPOPT_MSS = 2;

export interface TcpSegment {
  srcPort: number; dstPort: number; seq: number; ack: number; flags: number; window: number; payload: Buffer;
  mss?: number; // the MSS option: sent when set (normally on SYN), reported when received
}

function headerLen(s: TcpSegment): number {
  return TCP_HEADER_LEN + (s.mss === undefined ? 0 : 4);
}

export function encodeTcp(s: TcpSegment, src: Ip, dst: Ip): Buffer {
  const hlen = headerLen(s);
  const out = Buffer.allocUnsafe(hlen + s.payload.length);
  s.payload.copy(out, hlen);
  writeTcpHeader(s, src, dst, out, 0, out.length);
  return out;
}

/** Bytes the header of `s` takes (20, or 24 with the MSS option). */
export function tcpHeaderLength(s: TcpSegment): number { return headerLen(s); }

/** Writes the header at `off`; the payload must already sit behind it (the checksum covers it). */
export function writeTcpHeader(s: TcpSegment, src: Ip, dst: Ip, out: Buffer, off: number, len: number): void {
  checkUint(s.srcPort, 0xffff, 'TCP source port');
  checkUint(s.dstPort, 0xffff, 'TCP destination port');
  checkUint(s.seq, 0xffffffff, 'TCP seq');
  checkUint(s.ack, 0xffffffff, 'TCP ack');
  checkUint(s.flags, 0xff, 'TCP flags');
  checkUint(s.window, 0xffff, 'TCP window');
  const hlen = headerLen(s);
  out.writeUInt16BE(s.srcPort, off);
  out.writeUInt16BE(s.dstPort, off + 2);
  out.writeUInt32BE(s.seq, off + 4);
  out.writeUInt32BE(s.ack, off + 8);
  out[off + 12] = (hlen / 4) << 4;
  out[off + 13] = s.flags;
  out.writeUInt16BE(s.window, off + 14);
  out.writeUInt16BE(0, off + 16); // checksum, below
  out.writeUInt16BE(0, off + 18); // urgent pointer
  if (s.mss !== undefined) {
    checkUint(s.mss, 0xffff, 'TCP MSS');
    out[off + 20] = TCPOPT_MSS;
    out[off + 21] = 4;
    out.writeUInt16BE(s.mss, off + 22);
  }
  const sum = sumWords(out, off, off + len, pseudoHeaderSum(ipToNumber(src), ipToNumber(dst), IPPROTO_TCP, len));
  out.writeUInt16BE(finishChecksum(sum), off + 16);
}

/**
 * The segment is all of `b` (TCP has no length field; IPv4 decode has already cut the
 * padding). Options are skipped by the data offset, except MSS which is reported.
 */
export function decodeTcp(b: Buffer, src: Ip, dst: Ip): TcpSegment {
  needBytes(b, TCP_HEADER_LEN, 'TCP header');
  const hlen = (b[12]! >> 4) * 4;
  if (hlen < TCP_HEADER_LEN || hlen > b.length) throw new FrameError('bad_length', `TCP data offset ${hlen / 4} does not fit the ${b.length} bytes received`);
  if (b.length > 0xffff) throw new FrameError('bad_length', `TCP segment of ${b.length} bytes`);
  const sum = sumWords(b, 0, b.length, pseudoHeaderSum(ipToNumber(src), ipToNumber(dst), IPPROTO_TCP, b.length));
  if (finishChecksum(sum) !== 0) throw new FrameError('bad_checksum', `TCP checksum 0x${b.readUInt16BE(16).toString(16)} does not verify`);
  const seg: TcpSegment = {
    srcPort: b.readUInt16BE(0), dstPort: b.readUInt16BE(2),
    seq: b.readUInt32BE(4), ack: b.readUInt32BE(8),
    flags: b[13]!, window: b.readUInt16BE(14),
    payload: b.subarray(hlen),
  };
  for (let i = TCP_HEADER_LEN; i < hlen;) {
    const kind = b[i]!;
    if (kind === TCPOPT_EOL) break;
    if (kind === TCPOPT_NOP) { i++; continue; }
    if (i + 1 >= hlen) break;
    const olen = b[i + 1]!;
    if (olen < 2 || i + olen > hlen) throw new FrameError('bad_length', `TCP option ${kind} has length ${olen}`);
    if (kind === TCPOPT_MSS && olen === 4) seg.mss = b.readUInt16BE(i + 2);
    i += olen;
  }
  return seg;
}
