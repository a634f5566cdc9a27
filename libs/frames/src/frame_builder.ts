// One-allocation builders for whole Ethernet frames: the payload is copied once into its
// final place and every header is written around it, instead of encode-and-wrap per layer.
import { BROADCAST_MAC, type Ip, type Mac } from './address.js';
import { ARP_LEN, writeArp, type ArpPacket } from './arp.js';
import { ETH_HEADER_LEN, ETHERTYPE_ARP, ETHERTYPE_IPV4, writeEthernetHeader } from './ethernet.js';
import { ICMP_ECHO_HEADER_LEN, ICMP_ECHO_REQUEST, writeIcmpEchoHeader } from './icmp.js';
import { IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, IPV4_HEADER_LEN, writeIpv4Header } from './ipv4.js';
import { tcpHeaderLength, writeTcpHeader, type TcpSegment } from './tcp.js';
import { UDP_HEADER_LEN, writeUdpHeader } from './udp.js';

const L3 = ETH_HEADER_LEN;
const L4 = ETH_HEADER_LEN + IPV4_HEADER_LEN;
const DEFAULT_TTL = 64;

interface IpEnds { srcMac: Mac; dstMac: Mac; srcIp: Ip; dstIp: Ip; ttl?: number; dscp?: number; flags?: number }

export interface UdpFrameSpec extends IpEnds { srcPort: number; dstPort: number; payload: Buffer; id?: number }

export function buildUdpFrame(s: UdpFrameSpec): Buffer {
  const l4len = UDP_HEADER_LEN + s.payload.length;
  const out = Buffer.allocUnsafe(L4 + l4len);
  s.payload.copy(out, L4 + UDP_HEADER_LEN);
  writeUdpHeader(s, s.srcIp, s.dstIp, out, L4, l4len);
  writeIp(out, s, IPPROTO_UDP, s.id ?? 0, l4len);
  return out;
}

/** `id`/`seq` are the echo identifier and sequence; `ipId` is the IPv4 identification. */
export interface IcmpEchoFrameSpec extends IpEnds { type?: 0 | 8; id: number; seq: number; data: Buffer; ipId?: number }

export function buildIcmpEchoFrame(s: IcmpEchoFrameSpec): Buffer {
  const l4len = ICMP_ECHO_HEADER_LEN + s.data.length;
  const out = Buffer.allocUnsafe(L4 + l4len);
  s.data.copy(out, L4 + ICMP_ECHO_HEADER_LEN);
  writeIcmpEchoHeader({ type: s.type ?? ICMP_ECHO_REQUEST, code: 0, id: s.id, seq: s.seq }, out, L4, l4len);
  writeIp(out, s, IPPROTO_ICMP, s.ipId ?? 0, l4len);
  return out;
}

export interface TcpFrameSpec extends IpEnds { segment: TcpSegment; id?: number }

export function buildTcpFrame(s: TcpFrameSpec): Buffer {
  const hlen = tcpHeaderLength(s.segment);
  const l4len = hlen + s.segment.payload.length;
  const out = Buffer.allocUnsafe(L4 + l4len);
  s.segment.payload.copy(out, L4 + hlen);
  writeTcpHeader(s.segment, s.srcIp, s.dstIp, out, L4, l4len);
  writeIp(out, s, IPPROTO_TCP, s.id ?? 0, l4len);
  return out;
}

/** An ARP frame; a request goes to broadcast unless `dstMac` is given, a reply to the target. */
export function buildArpFrame(p: ArpPacket & { dstMac?: Mac }): Buffer {
  const out = Buffer.allocUnsafe(L3 + ARP_LEN);
  const dst = p.dstMac ?? (p.op === 1 ? BROADCAST_MAC : p.targetMac);
  writeEthernetHeader(out, 0, dst, p.senderMac, ETHERTYPE_ARP);
  writeArp(p, out, L3);
  return out;
}

function writeIp(out: Buffer, s: IpEnds, protocol: number, id: number, l4len: number): void {
  writeEthernetHeader(out, 0, s.dstMac, s.srcMac, ETHERTYPE_IPV4);
  writeIpv4Header(out, L3, { src: s.srcIp, dst: s.dstIp, protocol, ttl: s.ttl ?? DEFAULT_TTL, id, dscp: s.dscp, flags: s.flags }, l4len);
}
