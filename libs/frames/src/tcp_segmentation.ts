// What a checksum-offloading or segmentation-offloading device does to the bytes of a frame:
// complete the L4 checksum of a frame the stack left "partial" (CHECKSUM_PARTIAL), and cut
// a TCP segment larger than the MSS into MSS-sized frames (TSO in a NIC, GSO in software).
// Whoever calls these pays for them in its own cost model; the bytes come out the same.
import { finishChecksum, pseudoHeaderSum, sumWords } from './checksum.js';
import { ETHERTYPE_IPV4, ETH_HEADER_LEN } from './ethernet.js';
import { FrameError } from './frame_error.js';
import { IPPROTO_TCP, IPPROTO_UDP, IPV4_FLAG_MF } from './ipv4.js';
import { TCP_FIN, TCP_HEADER_LEN, TCP_PSH } from './tcp.js';

/** The largest IPv4 packet: a TSO/GSO segment never exceeds it. */
export const IPV4_MAX_PACKET = 0xffff;
/**
 * The most frames one segment may be cut into: a 64 KiB segment of 256-byte MSS. A smaller
 * MSS on a large segment is refused, so that one request cannot make tens of thousands of frames.
 */
export const TSO_MAX_SEGMENTS = 256;
/** TCP's CWR flag (RFC 3168): set on the first frame of a segmented burst only. */
const TCP_CWR = 0x80;

/** Where the layers of an IPv4 frame sit: `l4` to `end` is what the L4 checksum covers. */
export interface L4Span {
  /** Offset of the IPv4 header. */
  l3: number;
  /** Offset of the L4 header (after IPv4 options). */
  l4: number;
  /** One past the last byte of the IPv4 packet (Ethernet padding excluded). */
  end: number;
  protocol: number;
}

/**
 * The layers of an Ethernet/IPv4 frame, or undefined for anything else (ARP, a short or
 * inconsistent header). Reads only the headers: no checksum is verified.
 */
export function l4Span(frame: Buffer): L4Span | undefined {
  if (frame.length < ETH_HEADER_LEN + 20 || frame.readUInt16BE(12) !== ETHERTYPE_IPV4) return undefined;
  const l3 = ETH_HEADER_LEN;
  if (frame[l3]! >> 4 !== 4) return undefined;
  const ihl = (frame[l3]! & 0x0f) * 4;
  const total = frame.readUInt16BE(l3 + 2);
  if (ihl < 20 || total < ihl || l3 + total > frame.length) return undefined;
  return { l3, l4: l3 + ihl, end: l3 + total, protocol: frame[l3 + 9]! };
}

/** Bytes an L4 checksum covers in this frame (the IPv4 payload), 0 for a frame without one. */
export function checksummedBytes(frame: Buffer): number {
  const s = l4Span(frame);
  return s ? s.end - s.l4 : 0;
}

/** Whether the frame is TCP or UDP over IPv4: what a checksum-offloading device completes. */
export function isOffloadableL4(frame: Buffer): boolean {
  const s = l4Span(frame);
  return s !== undefined && (s.protocol === IPPROTO_TCP || s.protocol === IPPROTO_UDP);
}

/**
 * Computes the TCP or UDP checksum of the frame and writes it in place (what a NIC's
 * checksum insertion or Linux's skb_checksum_help does). FrameError for anything else.
 */
export function completeL4Checksum(frame: Buffer): void {
  const s = l4Span(frame);
  if (!s) throw new FrameError('unsupported', 'checksum completion needs an IPv4 frame');
  const len = s.end - s.l4;
  const at = s.protocol === IPPROTO_TCP ? 16 : s.protocol === IPPROTO_UDP ? 6 : -1;
  if (at < 0) throw new FrameError('unsupported', `checksum completion is for TCP and UDP, not IP protocol ${s.protocol}`);
  if (len < at + 2) throw new FrameError('truncated', `an L4 header of ${len} bytes has no checksum field`);
  const src = frame.readUInt32BE(s.l3 + 12);
  const dst = frame.readUInt32BE(s.l3 + 16);
  frame.writeUInt16BE(0, s.l4 + at);
  const sum = finishChecksum(sumWords(frame, s.l4, s.end, pseudoHeaderSum(src, dst, s.protocol, len)));
  // UDP sends a computed 0 as 0xffff: 0 means "no checksum" (RFC 768)
  frame.writeUInt16BE(s.protocol === IPPROTO_UDP ? sum || 0xffff : sum, s.l4 + at);
}

/** The headers of a TCP/IPv4 frame and where its payload starts, checked for segmentation. */
function tcpLayout(frame: Buffer): L4Span & { payload: number } {
  const s = l4Span(frame);
  if (!s) throw new FrameError('unsupported', 'TCP segmentation needs an Ethernet/IPv4 frame with a consistent header');
  if (s.protocol !== IPPROTO_TCP) throw new FrameError('unsupported', `TCP segmentation of IP protocol ${s.protocol}`);
  const fragWord = frame.readUInt16BE(s.l3 + 6);
  if ((fragWord >> 13) & IPV4_FLAG_MF || (fragWord & 0x1fff) !== 0) throw new FrameError('unsupported', 'TCP segmentation of an IP fragment');
  if (s.end - s.l4 < TCP_HEADER_LEN) throw new FrameError('truncated', 'the TCP header is cut short');
  const thl = (frame[s.l4 + 12]! >> 4) * 4;
  if (thl < TCP_HEADER_LEN || s.l4 + thl > s.end) throw new FrameError('bad_length', `TCP data offset ${thl / 4} does not fit the packet`);
  return { ...s, payload: s.l4 + thl };
}

/**
 * Cuts a TCP/IPv4 frame into frames of at most `mss` payload bytes each, as TSO does:
 * every frame gets the original headers with its own IPv4 total length, id (incrementing)
 * and header checksum, its own TCP sequence number and a TCP checksum of its own; FIN and
 * PSH stay on the last frame only, CWR on the first only. A frame whose payload already
 * fits is returned as one (checksum completed). FrameError for anything that is not a
 * well-formed TCP/IPv4 frame or an mss out of range.
 */
export function segmentTcp(frame: Buffer, mss: number): Buffer[] {
  if (!Number.isInteger(mss) || mss < 1 || mss > IPV4_MAX_PACKET) throw new FrameError('bad_field', `MSS must be an integer in 1..${IPV4_MAX_PACKET}, got ${mss}`);
  const t = tcpLayout(frame);
  const hdr = t.payload;           // Ethernet + IPv4 + TCP header bytes, copied into every frame
  const payloadLen = t.end - t.payload;
  const count = Math.max(1, Math.ceil(payloadLen / mss));
  if (count > TSO_MAX_SEGMENTS) throw new FrameError('bad_field', `${payloadLen} bytes in segments of ${mss} make ${count} frames, more than ${TSO_MAX_SEGMENTS}`);
  const ipId = frame.readUInt16BE(t.l3 + 4);
  const seq = frame.readUInt32BE(t.l4 + 4);
  const flags = frame[t.l4 + 13]!;
  const src = frame.readUInt32BE(t.l3 + 12);
  const dst = frame.readUInt32BE(t.l3 + 16);
  const out: Buffer[] = [];
  for (let k = 0; k < count; k++) {
    const from = t.payload + k * mss;
    const len = Math.min(mss, t.end - from);
    const f = Buffer.allocUnsafe(hdr + len);
    frame.copy(f, 0, 0, hdr);
    frame.copy(f, hdr, from, from + len);
    const last = k === count - 1;
    // IPv4: total length, id, header checksum
    f.writeUInt16BE(hdr - t.l3 + len, t.l3 + 2);
    f.writeUInt16BE((ipId + k) & 0xffff, t.l3 + 4);
    f.writeUInt16BE(0, t.l3 + 10);
    f.writeUInt16BE(finishChecksum(sumWords(f, t.l3, t.l4)), t.l3 + 10);
    // TCP: sequence number, flags, checksum
    f.writeUInt32BE((seq + k * mss) >>> 0, t.l4 + 4);
    let fl = flags;
    if (!last) fl &= ~(TCP_FIN | TCP_PSH);
    if (k > 0) fl &= ~TCP_CWR;
    f[t.l4 + 13] = fl;
    f.writeUInt16BE(0, t.l4 + 16);
    const l4len = f.length - t.l4;
    f.writeUInt16BE(finishChecksum(sumWords(f, t.l4, f.length, pseudoHeaderSum(src, dst, IPPROTO_TCP, l4len))), t.l4 + 16);
    out.push(f);
  }
  return out;
}

/** How many frames segmentTcp would make of a frame with `payloadBytes` of TCP payload. */
export function segmentCount(payloadBytes: number, mss: number): number {
  return Math.max(1, Math.ceil(payloadBytes / mss));
}

/** TCP payload bytes of a TCP/IPv4 frame (0 for anything else). */
export function tcpPayloadBytes(frame: Buffer): number {
  try {
    const t = tcpLayout(frame);
    return t.end - t.payload;
  } catch {
    return 0;
  }
}
