// VXLAN (RFC 7348): an Ethernet frame carried in UDP/IPv4 between two VTEPs.
//
//   outer Ethernet (14) | outer IPv4 (20) | outer UDP (8, dst 4789) | VXLAN (8) | inner frame
//
// VXLAN header (RFC 7348 section 5):
//   byte 0     flags: 0x08 = I (the VNI is valid); the other 7 bits reserved
//   bytes 1..3 reserved, zero
//   bytes 4..6 VNI (24 bits)
//   byte 7     reserved, zero
import { bytesToMac, ipToNumber, type Ip, type Mac } from './address.js';
import { ETH_HEADER_LEN, ETHERTYPE_IPV4, writeEthernetHeader } from './ethernet.js';
import { FrameError, checkUint, needBytes } from './frame_error.js';
import { decodeIpv4, IPPROTO_TCP, IPPROTO_UDP, IPV4_FLAG_DF, IPV4_HEADER_LEN, writeIpv4Header } from './ipv4.js';
import { decodeUdp, UDP_HEADER_LEN, writeUdpHeader } from './udp.js';

export const VXLAN_PORT = 4789;            // IANA-assigned (Linux's historical default is 8472)
export const VXLAN_HEADER_LEN = 8;
export const VXLAN_FLAG_I = 0x08;
/** Outer Ethernet + IPv4 + UDP + VXLAN: what encapsulation adds to the inner frame. */
export const VXLAN_OVERHEAD = ETH_HEADER_LEN + IPV4_HEADER_LEN + UDP_HEADER_LEN + VXLAN_HEADER_LEN; // 50
export const VXLAN_MAX_VNI = 0xffffff;
/** RFC 7348 section 5: the entropy source port SHOULD come from the dynamic range 49152-65535. */
export const VXLAN_SRC_PORT_MIN = 49152;
export const VXLAN_SRC_PORT_MAX = 65535;

const OUTER_IP = ETH_HEADER_LEN;
const OUTER_UDP = OUTER_IP + IPV4_HEADER_LEN;
const VXLAN_HDR = OUTER_UDP + UDP_HEADER_LEN;
const DEFAULT_TTL = 64;

export interface VxlanEncapSpec {
  inner: Buffer;          // the whole inner Ethernet frame
  vni: number;            // 24 bits
  outerSrcMac: Mac;       // the local VTEP's underlay interface
  outerDstMac: Mac;       // the next hop towards the remote VTEP
  srcIp: Ip;              // local VTEP
  dstIp: Ip;              // remote VTEP
  srcPort?: number;       // default vxlanSourcePort(inner): flow entropy for underlay ECMP
  dstPort?: number;       // default VXLAN_PORT
  ttl?: number;           // default 64
  dfSet?: boolean;        // default true, as Open vSwitch's tunnels (df_default=true); RFC 7348 4.3: VTEPs MUST NOT fragment
  ipId?: number;          // outer IPv4 identification, default 0
  udpChecksum?: boolean;  // default false: RFC 7348 section 5 says the UDP checksum SHOULD be sent as zero over IPv4
}

export interface VxlanOuter {
  srcMac: Mac; dstMac: Mac;
  srcIp: Ip; dstIp: Ip; ttl: number; df: boolean;
  srcPort: number; dstPort: number;
  udpChecksum: number;    // 0 when none was sent
  flags: number;          // the VXLAN flags byte as received (reserved bits are ignored, not refused)
}

export interface VxlanPacket { vni: number; inner: Buffer; outer: VxlanOuter }

/** FNV-1a over 32 bits: cheap, deterministic, good enough to spread flows over ports. */
function fnv1a(h: number, b: Buffer, start: number, end: number): number {
  for (let i = start; i < end; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  return h >>> 0;
}

/**
 * The outer UDP source port for an inner frame: a hash of its L2 header, and of its IPv4
 * addresses and protocol, and of its TCP/UDP ports when present (not for non-first
 * fragments), mapped into 49152-65535. Every frame of one flow gets the same port, so the
 * underlay's ECMP keeps a flow on one path while spreading flows (RFC 7348 section 5).
 */
export function vxlanSourcePort(inner: Buffer): number {
  needBytes(inner, ETH_HEADER_LEN, 'inner Ethernet header');
  let h = fnv1a(0x811c9dc5, inner, 0, ETH_HEADER_LEN);
  if (inner.readUInt16BE(12) === ETHERTYPE_IPV4 && inner.length >= ETH_HEADER_LEN + IPV4_HEADER_LEN) {
    const ip = ETH_HEADER_LEN;
    const proto = inner[ip + 9]!;
    h = fnv1a(h, inner, ip + 9, ip + 10);   // protocol
    h = fnv1a(h, inner, ip + 12, ip + 20);  // source and destination addresses
    const ihl = (inner[ip]! & 0x0f) * 4;
    const firstFragment = (inner.readUInt16BE(ip + 6) & 0x1fff) === 0;
    if ((proto === IPPROTO_TCP || proto === IPPROTO_UDP) && firstFragment && ihl >= IPV4_HEADER_LEN && inner.length >= ip + ihl + 4) {
      h = fnv1a(h, inner, ip + ihl, ip + ihl + 4); // source and destination ports
    }
  }
  return VXLAN_SRC_PORT_MIN + (h % (VXLAN_SRC_PORT_MAX - VXLAN_SRC_PORT_MIN + 1));
}

/** Builds the whole outer frame in one allocation: headers written around one copy of the inner frame. */
export function encapVxlan(s: VxlanEncapSpec): Buffer {
  needBytes(s.inner, ETH_HEADER_LEN, 'inner Ethernet frame');
  checkUint(s.vni, VXLAN_MAX_VNI, 'VNI');
  const srcPort = s.srcPort ?? vxlanSourcePort(s.inner);
  const dstPort = s.dstPort ?? VXLAN_PORT;
  checkUint(srcPort, 0xffff, 'UDP source port');
  checkUint(dstPort, 0xffff, 'UDP destination port');
  const udpLen = UDP_HEADER_LEN + VXLAN_HEADER_LEN + s.inner.length;
  const out = Buffer.allocUnsafe(VXLAN_OVERHEAD + s.inner.length);
  s.inner.copy(out, VXLAN_OVERHEAD);

  out[VXLAN_HDR] = VXLAN_FLAG_I;
  out[VXLAN_HDR + 1] = 0; out[VXLAN_HDR + 2] = 0; out[VXLAN_HDR + 3] = 0;
  out.writeUIntBE(s.vni, VXLAN_HDR + 4, 3);
  out[VXLAN_HDR + 7] = 0;

  writeEthernetHeader(out, 0, s.outerDstMac, s.outerSrcMac, ETHERTYPE_IPV4);
  writeIpv4Header(out, OUTER_IP, {
    src: s.srcIp, dst: s.dstIp, protocol: IPPROTO_UDP, ttl: s.ttl ?? DEFAULT_TTL, id: s.ipId ?? 0,
    flags: (s.dfSet ?? true) ? IPV4_FLAG_DF : 0,
  }, udpLen);
  if (s.udpChecksum) {
    writeUdpHeader({ srcPort, dstPort }, s.srcIp, s.dstIp, out, OUTER_UDP, udpLen);
  } else {
    if (udpLen > 0xffff) throw new FrameError('bad_length', `UDP length ${udpLen} exceeds 65535`);
    out.writeUInt16BE(srcPort, OUTER_UDP);
    out.writeUInt16BE(dstPort, OUTER_UDP + 2);
    out.writeUInt16BE(udpLen, OUTER_UDP + 4);
    out.writeUInt16BE(0, OUTER_UDP + 6); // zero: no checksum (RFC 7348 section 5, IPv4)
  }
  return out;
}

/**
 * Decodes and checks an outer frame: IPv4 (header checksum verified), UDP to `port`
 * (checksum verified only if one was sent), and a VXLAN header with the I flag set.
 * Reserved bits are ignored on receipt, as RFC 7348 section 5 asks. `inner` is a view.
 * Throws FrameError: 'not_vxlan' (another kind of packet), 'bad_flags' (I flag clear),
 * 'truncated', 'unsupported' (an outer fragment: VTEPs may discard them, RFC 7348 4.3),
 * or the reason of the outer layer that does not verify.
 */
export function decapVxlan(buf: Buffer, port = VXLAN_PORT): VxlanPacket {
  needBytes(buf, ETH_HEADER_LEN, 'outer Ethernet header');
  const ethertype = buf.readUInt16BE(12);
  if (ethertype !== ETHERTYPE_IPV4) throw new FrameError('not_vxlan', `outer ethertype 0x${ethertype.toString(16).padStart(4, '0')} is not IPv4`);
  const ip = decodeIpv4(buf.subarray(OUTER_IP));
  if (ip.protocol !== IPPROTO_UDP) throw new FrameError('not_vxlan', `outer IPv4 protocol ${ip.protocol} is not UDP`);
  if ((ip.flags! & 1) === 1 || ip.fragmentOffset! > 0) throw new FrameError('unsupported', 'outer IPv4 packet is a fragment');
  const udp = decodeUdp(ip.payload, ip.src, ip.dst);
  if (udp.dstPort !== port) throw new FrameError('not_vxlan', `outer UDP destination port ${udp.dstPort} is not ${port}`);
  const v = udp.payload;
  needBytes(v, VXLAN_HEADER_LEN, 'VXLAN header');
  if ((v[0]! & VXLAN_FLAG_I) === 0) throw new FrameError('bad_flags', `VXLAN flags 0x${v[0]!.toString(16).padStart(2, '0')} lack the I flag (0x08)`);
  const inner = v.subarray(VXLAN_HEADER_LEN);
  needBytes(inner, ETH_HEADER_LEN, 'inner Ethernet frame');
  const udpOff = OUTER_IP + (buf[OUTER_IP]! & 0x0f) * 4;
  return {
    vni: v.readUIntBE(4, 3),
    inner,
    outer: {
      srcMac: bytesToMac(buf, 6), dstMac: bytesToMac(buf, 0),
      srcIp: ip.src, dstIp: ip.dst, ttl: ip.ttl, df: (ip.flags! & IPV4_FLAG_DF) !== 0,
      srcPort: udp.srcPort, dstPort: udp.dstPort, udpChecksum: buf.readUInt16BE(udpOff + 6),
      flags: v[0]!,
    },
  };
}

/** True if `buf` looks like VXLAN to `localIp` (cheap header peek, nothing verified). */
export function isVxlanTo(buf: Buffer, localIp: Ip | number, port = VXLAN_PORT): boolean {
  if (buf.length < VXLAN_OVERHEAD || buf.readUInt16BE(12) !== ETHERTYPE_IPV4 || buf[OUTER_IP + 9] !== IPPROTO_UDP) return false;
  const udp = OUTER_IP + (buf[OUTER_IP]! & 0x0f) * 4;
  if (buf.length < udp + UDP_HEADER_LEN || buf.readUInt16BE(udp + 2) !== port) return false;
  const want = typeof localIp === 'number' ? localIp : ipToNumber(localIp);
  return buf.readUInt32BE(OUTER_IP + 16) === want;
}
