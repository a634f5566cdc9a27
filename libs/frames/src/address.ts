import { FrameError } from './frame_error.js';

export type Mac = string; // "02:00:00:00:01:01", lower case
export type Ip = string;  // dotted quad

export const BROADCAST_MAC: Mac = 'ff:ff:ff:ff:ff:ff';

const MAC_RE = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Writes the 6 bytes of `m` at `off` without allocating. */
export function writeMac(m: Mac, out: Buffer, off: number): void {
  if (typeof m !== 'string' || !MAC_RE.test(m)) throw new FrameError('bad_address', `not a MAC address: ${String(m)}`);
  for (let i = 0; i < 6; i++) out[off + i] = parseInt(m.slice(i * 3, i * 3 + 2), 16);
}

export function macToBytes(m: Mac): Buffer {
  const b = Buffer.allocUnsafe(6);
  writeMac(m, b, 0);
  return b;
}

export function bytesToMac(b: Buffer, off = 0): Mac {
  if (off < 0 || b.length < off + 6) throw new FrameError('truncated', `a MAC address needs 6 bytes at offset ${off}`);
  return `${HEX[b[off]!]}:${HEX[b[off + 1]!]}:${HEX[b[off + 2]!]}:${HEX[b[off + 3]!]}:${HEX[b[off + 4]!]}:${HEX[b[off + 5]!]}`;
}

/** Group bit of the first octet: broadcast and multicast destinations. */
export function isMulticastMac(b: Buffer, off = 0): boolean {
  return (b[off]! & 1) === 1;
}

/** Unsigned 32-bit value of a dotted quad; strict (no leading '+', no octal, 4 parts). */
export function ipToNumber(ip: Ip): number {
  if (typeof ip !== 'string') throw new FrameError('bad_address', `not an IPv4 address: ${String(ip)}`);
  const known = parsedIps.get(ip);
  if (known !== undefined) return known;
  const parts = ip.split('.');
  if (parts.length !== 4) throw new FrameError('bad_address', `not an IPv4 address: ${ip}`);
  let n = 0;
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > 255) throw new FrameError('bad_address', `not an IPv4 address: ${ip}`);
    n = n * 256 + Number(p);
  }
  // every frame's checksum and header needs its addresses: a lab has few, parsed once each
  if (parsedIps.size >= MAX_PARSED_IPS) parsedIps.clear();
  parsedIps.set(ip, n);
  return n;
}

const parsedIps = new Map<string, number>();
const MAX_PARSED_IPS = 4096;

export function numberToIp(n: number): Ip {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new FrameError('bad_address', `not a 32-bit IPv4 address: ${n}`);
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}
