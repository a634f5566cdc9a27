import { bytesToMac, writeMac, type Mac } from './address.js';
import { needBytes, checkUint } from './frame_error.js';

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETH_HEADER_LEN = 14;

export interface EthernetFrame { dst: Mac; src: Mac; ethertype: number; payload: Buffer }

/** Ethernet II header + payload. No padding to 60 bytes and no FCS: that is the NIC's job. */
export function encodeEthernet(f: EthernetFrame): Buffer {
  const out = Buffer.allocUnsafe(ETH_HEADER_LEN + f.payload.length);
  writeEthernetHeader(out, 0, f.dst, f.src, f.ethertype);
  f.payload.copy(out, ETH_HEADER_LEN);
  return out;
}

export function writeEthernetHeader(out: Buffer, off: number, dst: Mac, src: Mac, ethertype: number): void {
  checkUint(ethertype, 0xffff, 'ethertype');
  writeMac(dst, out, off);
  writeMac(src, out, off + 6);
  out.writeUInt16BE(ethertype, off + 12);
}

/** The payload is a view into `b` (no copy); it includes any padding after the L3 packet. */
export function decodeEthernet(b: Buffer): EthernetFrame {
  needBytes(b, ETH_HEADER_LEN, 'Ethernet header');
  return { dst: bytesToMac(b, 0), src: bytesToMac(b, 6), ethertype: b.readUInt16BE(12), payload: b.subarray(ETH_HEADER_LEN) };
}
