import { decodeArp, type ArpPacket } from './arp.js';
import { decodeEthernet, ETHERTYPE_ARP, ETHERTYPE_IPV4, type EthernetFrame } from './ethernet.js';
import { FrameError } from './frame_error.js';
import { decodeIcmp, type IcmpEcho } from './icmp.js';
import { decodeIpv4, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, type Ipv4Packet } from './ipv4.js';
import { decodeTcp, TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, type TcpSegment } from './tcp.js';
import { decodeUdp, type UdpDatagram } from './udp.js';

export interface ParsedFrame {
  eth: EthernetFrame;
  arp?: ArpPacket;
  ipv4?: Ipv4Packet;
  icmp?: IcmpEcho;
  udp?: UdpDatagram;
  tcp?: TcpSegment;
}

/**
 * Decodes every layer this library knows, verifying each checksum; throws FrameError on
 * the first bad layer. Unknown ethertypes / IP protocols, non-echo ICMP and non-first
 * fragments stop the descent without error (their layer is simply absent).
 */
export function parseFrame(bytes: Buffer): ParsedFrame {
  const eth = decodeEthernet(bytes);
  const out: ParsedFrame = { eth };
  if (eth.ethertype === ETHERTYPE_ARP) {
    out.arp = decodeArp(eth.payload);
  } else if (eth.ethertype === ETHERTYPE_IPV4) {
    const ip = decodeIpv4(eth.payload);
    out.ipv4 = ip;
    const fragmented = (ip.flags! & 1) === 1 || ip.fragmentOffset! > 0;
    if (!fragmented) {
      if (ip.protocol === IPPROTO_UDP) out.udp = decodeUdp(ip.payload, ip.src, ip.dst);
      else if (ip.protocol === IPPROTO_TCP) out.tcp = decodeTcp(ip.payload, ip.src, ip.dst);
      else if (ip.protocol === IPPROTO_ICMP && ip.payload.length >= 1 && (ip.payload[0] === 0 || ip.payload[0] === 8)) out.icmp = decodeIcmp(ip.payload);
    }
  }
  return out;
}

function tcpFlags(f: number): string {
  let s = '';
  if (f & TCP_SYN) s += 'S';
  if (f & TCP_FIN) s += 'F';
  if (f & TCP_RST) s += 'R';
  if (f & TCP_PSH) s += 'P';
  if (f & TCP_ACK) s += '.';
  return s || 'none';
}

/** One line for logs and traces; never throws (a bad frame is described with its reason). */
export function describeFrame(b: Buffer): string {
  let p: ParsedFrame;
  try {
    p = parseFrame(b);
  } catch (e) {
    const reason = e instanceof FrameError ? e.reason : 'error';
    let head = '';
    try {
      const eth = decodeEthernet(b);
      head = `${eth.src}→${eth.dst} ethertype 0x${eth.ethertype.toString(16).padStart(4, '0')} `;
    } catch { /* shorter than an Ethernet header */ }
    return `${head}malformed (${reason}) ${b.length} bytes`;
  }
  const { eth } = p;
  const head = `${eth.src}→${eth.dst}`;
  if (p.arp) {
    const a = p.arp;
    return a.op === 1 ? `${head} ARP who-has ${a.targetIp} tell ${a.senderIp}` : `${head} ARP reply ${a.senderIp} is-at ${a.senderMac}`;
  }
  if (!p.ipv4) return `${head} ethertype 0x${eth.ethertype.toString(16).padStart(4, '0')} len ${eth.payload.length}`;
  const ip = p.ipv4;
  const l3 = `${head} IPv4 ${ip.src}→${ip.dst}`;
  if (p.udp) return `${l3} UDP ${p.udp.srcPort}→${p.udp.dstPort} len ${p.udp.payload.length}`;
  if (p.tcp) {
    const t = p.tcp;
    return `${l3} TCP ${t.srcPort}→${t.dstPort} [${tcpFlags(t.flags)}] seq ${t.seq} ack ${t.ack} win ${t.window} len ${t.payload.length}`;
  }
  if (p.icmp) {
    const i = p.icmp;
    return `${l3} ICMP echo ${i.type === 8 ? 'request' : 'reply'} id ${i.id} seq ${i.seq} len ${i.data.length}`;
  }
  const frag = ip.fragmentOffset! > 0 || (ip.flags! & 1) ? ` frag off ${ip.fragmentOffset! * 8}` : '';
  return `${l3} proto ${ip.protocol}${frag} len ${ip.payload.length}`;
}
