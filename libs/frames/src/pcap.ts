// libpcap file format: a 24-byte global header, then per frame a 16-byte record header and
// the bytes. Written little endian; readers detect byte order from the magic.
import { FrameError } from './frame_error.js';

export const PCAP_MAGIC_USEC = 0xa1b2c3d4;
export const PCAP_MAGIC_NSEC = 0xa1b23c4d; // timestamps in nanoseconds: modelled time is in ns
export const LINKTYPE_ETHERNET = 1;
export const PCAP_SNAPLEN = 262144;
export const PCAP_HEADER_LEN = 24;
export const PCAP_RECORD_HEADER_LEN = 16;

export interface PcapOptions { nanosecond?: boolean /* default true */; snaplen?: number }

export function pcapHeader(opts: PcapOptions = {}): Buffer {
  const h = Buffer.allocUnsafe(PCAP_HEADER_LEN);
  h.writeUInt32LE(opts.nanosecond === false ? PCAP_MAGIC_USEC : PCAP_MAGIC_NSEC, 0);
  h.writeUInt16LE(2, 4);  // version major
  h.writeUInt16LE(4, 6);  // version minor
  h.writeInt32LE(0, 8);   // thiszone
  h.writeUInt32LE(0, 12); // sigfigs
  h.writeUInt32LE(opts.snaplen ?? PCAP_SNAPLEN, 16);
  h.writeUInt32LE(LINKTYPE_ETHERNET, 20);
  return h;
}

/** One record (header + captured bytes, cut at snaplen), for streaming a capture to a file. */
export function pcapRecord(f: { tNs: number; bytes: Buffer }, opts: PcapOptions = {}): Buffer {
  if (!Number.isFinite(f.tNs) || f.tNs < 0) throw new FrameError('bad_field', `pcap timestamp must be a non-negative number of ns, got ${f.tNs}`);
  const snaplen = opts.snaplen ?? PCAP_SNAPLEN;
  const incl = Math.min(f.bytes.length, snaplen);
  const r = Buffer.allocUnsafe(PCAP_RECORD_HEADER_LEN + incl);
  const t = Math.floor(f.tNs);
  const sec = Math.floor(t / 1e9);
  if (sec > 0xffffffff) throw new FrameError('bad_field', `pcap timestamp ${f.tNs} ns does not fit 32-bit seconds`);
  const frac = t - sec * 1e9;
  r.writeUInt32LE(sec, 0);
  r.writeUInt32LE(opts.nanosecond === false ? Math.floor(frac / 1000) : frac, 4);
  r.writeUInt32LE(incl, 8);
  r.writeUInt32LE(f.bytes.length, 12);
  f.bytes.copy(r, PCAP_RECORD_HEADER_LEN, 0, incl);
  return r;
}

/** A whole libpcap file (LINKTYPE_ETHERNET, nanosecond timestamps unless told otherwise). */
export function pcapFile(frames: Array<{ tNs: number; bytes: Buffer }>, opts: PcapOptions = {}): Buffer {
  return Buffer.concat([pcapHeader(opts), ...frames.map((f) => pcapRecord(f, opts))]);
}
