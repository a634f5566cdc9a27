import { finishChecksum, sumWords } from './checksum.js';
import { FrameError, checkUint, needBytes } from './frame_error.js';

export const ICMP_ECHO_REPLY = 0;
export const ICMP_ECHO_REQUEST = 8;
export const ICMP_ECHO_HEADER_LEN = 8;

export interface IcmpEcho { type: 0 | 8; code: 0; id: number; seq: number; data: Buffer }

export function encodeIcmpEcho(p: IcmpEcho): Buffer {
  const out = Buffer.allocUnsafe(ICMP_ECHO_HEADER_LEN + p.data.length);
  p.data.copy(out, ICMP_ECHO_HEADER_LEN);
  writeIcmpEchoHeader(p, out, 0, out.length);
  return out;
}

/** Writes the echo header at `off`; the data must already sit at off+8 .. off+len (checksum covers it). */
export function writeIcmpEchoHeader(p: Omit<IcmpEcho, 'data'>, out: Buffer, off: number, len: number): void {
  if (p.type !== ICMP_ECHO_REPLY && p.type !== ICMP_ECHO_REQUEST) throw new FrameError('bad_field', `ICMP echo type must be 0 or 8, got ${p.type}`);
  if (p.code !== 0) throw new FrameError('bad_field', `ICMP echo code must be 0, got ${p.code}`);
  checkUint(p.id, 0xffff, 'ICMP echo id');
  checkUint(p.seq, 0xffff, 'ICMP echo seq');
  out[off] = p.type;
  out[off + 1] = 0;
  out.writeUInt16BE(0, off + 2);
  out.writeUInt16BE(p.id, off + 4);
  out.writeUInt16BE(p.seq, off + 6);
  out.writeUInt16BE(finishChecksum(sumWords(out, off, off + len)), off + 2);
}

/** Decodes an echo request or reply (other ICMP types → FrameError 'unsupported'). `data` is a view. */
export function decodeIcmp(b: Buffer): IcmpEcho {
  needBytes(b, ICMP_ECHO_HEADER_LEN, 'ICMP header');
  if (finishChecksum(sumWords(b, 0, b.length)) !== 0) {
    throw new FrameError('bad_checksum', `ICMP checksum 0x${b.readUInt16BE(2).toString(16)} does not verify`);
  }
  const type = b[0]!, code = b[1]!;
  if ((type !== ICMP_ECHO_REPLY && type !== ICMP_ECHO_REQUEST) || code !== 0) {
    throw new FrameError('unsupported', `ICMP type ${type} code ${code} is not an echo`);
  }
  return { type, code: 0, id: b.readUInt16BE(4), seq: b.readUInt16BE(6), data: b.subarray(ICMP_ECHO_HEADER_LEN) };
}
