import { bytesToMac, ipToNumber, numberToIp, writeMac, type Ip, type Mac } from './address.js';
import { FrameError, needBytes } from './frame_error.js';
import { ETHERTYPE_IPV4 } from './ethernet.js';

export const ARP_REQUEST = 1;
export const ARP_REPLY = 2;
export const ARP_LEN = 28;
const HTYPE_ETHERNET = 1;

export interface ArpPacket { op: 1 | 2; senderMac: Mac; senderIp: Ip; targetMac: Mac; targetIp: Ip }

export function encodeArp(p: ArpPacket): Buffer {
  const out = Buffer.allocUnsafe(ARP_LEN);
  writeArp(p, out, 0);
  return out;
}

export function writeArp(p: ArpPacket, out: Buffer, off: number): void {
  if (p.op !== ARP_REQUEST && p.op !== ARP_REPLY) throw new FrameError('bad_field', `ARP op must be 1 or 2, got ${p.op}`);
  out.writeUInt16BE(HTYPE_ETHERNET, off);
  out.writeUInt16BE(ETHERTYPE_IPV4, off + 2);
  out[off + 4] = 6; // hlen
  out[off + 5] = 4; // plen
  out.writeUInt16BE(p.op, off + 6);
  writeMac(p.senderMac, out, off + 8);
  out.writeUInt32BE(ipToNumber(p.senderIp), off + 14);
  writeMac(p.targetMac, out, off + 18);
  out.writeUInt32BE(ipToNumber(p.targetIp), off + 24);
}

/** Only ARP for IPv4 over Ethernet; trailing bytes (Ethernet padding) are ignored. */
export function decodeArp(b: Buffer): ArpPacket {
  needBytes(b, ARP_LEN, 'ARP packet');
  const htype = b.readUInt16BE(0), ptype = b.readUInt16BE(2);
  if (htype !== HTYPE_ETHERNET || ptype !== ETHERTYPE_IPV4 || b[4] !== 6 || b[5] !== 4) {
    throw new FrameError('unsupported', `ARP htype ${htype} ptype 0x${ptype.toString(16)} hlen ${b[4]} plen ${b[5]} is not IPv4 over Ethernet`);
  }
  const op = b.readUInt16BE(6);
  if (op !== ARP_REQUEST && op !== ARP_REPLY) throw new FrameError('unsupported', `ARP op ${op}`);
  return {
    op,
    senderMac: bytesToMac(b, 8),
    senderIp: numberToIp(b.readUInt32BE(14)),
    targetMac: bytesToMac(b, 18),
    targetIp: numberToIp(b.readUInt32BE(24)),
  };
}
