// The header fields of one frame that flows match on (Open vSwitch's flow_extract()): read
// straight from the bytes, nothing verified, as a datapath does. Absent fields are -1.
export interface FlowKey {
  inPort: string;
  tunId: number;
  dlSrcHi: number; dlSrcLo: number;
  dlDstHi: number; dlDstLo: number;
  dlType: number;
  nwSrc: number; nwDst: number; nwProto: number;
  tpSrc: number; tpDst: number;
}

const ETH_HLEN = 14;

/** `frame` must hold at least an Ethernet header (the caller drops shorter ones as malformed). */
export function extractFlowKey(frame: Buffer, inPort: string, tunId: number): FlowKey {
  const k: FlowKey = {
    inPort, tunId,
    dlDstHi: frame.readUIntBE(0, 3), dlDstLo: frame.readUIntBE(3, 3),
    dlSrcHi: frame.readUIntBE(6, 3), dlSrcLo: frame.readUIntBE(9, 3),
    dlType: frame.readUInt16BE(12),
    nwSrc: -1, nwDst: -1, nwProto: -1, tpSrc: -1, tpDst: -1,
  };
  if (k.dlType === 0x0800 && frame.length >= ETH_HLEN + 20) {
    const ip = ETH_HLEN;
    const ihl = (frame[ip]! & 0x0f) * 4;
    k.nwProto = frame[ip + 9]!;
    k.nwSrc = frame.readUInt32BE(ip + 12);
    k.nwDst = frame.readUInt32BE(ip + 16);
    const firstFragment = (frame.readUInt16BE(ip + 6) & 0x1fff) === 0;
    if ((k.nwProto === 6 || k.nwProto === 17) && firstFragment && ihl >= 20 && frame.length >= ip + ihl + 4) {
      k.tpSrc = frame.readUInt16BE(ip + ihl);
      k.tpDst = frame.readUInt16BE(ip + ihl + 2);
    }
  } else if (k.dlType === 0x0806 && frame.length >= ETH_HLEN + 28) {
    // As Open vSwitch does: ARP's opcode and protocol addresses fill nw_proto, nw_src, nw_dst.
    const arp = ETH_HLEN;
    k.nwProto = frame.readUInt16BE(arp + 6) & 0xff;
    k.nwSrc = frame.readUInt32BE(arp + 14);
    k.nwDst = frame.readUInt32BE(arp + 24);
  }
  return k;
}

/** The exact-match cache key: every field, so two frames with one key get one decision. */
export function exactKey(k: FlowKey, remoteIp: string | undefined): string {
  return `${k.inPort}|${remoteIp ?? ''}|${k.tunId}|${k.dlSrcHi}.${k.dlSrcLo}|${k.dlDstHi}.${k.dlDstLo}|${k.dlType}|${k.nwSrc}|${k.nwDst}|${k.nwProto}|${k.tpSrc}|${k.tpDst}`;
}

export function macString(hi: number, lo: number): string {
  return (hi.toString(16).padStart(6, '0') + lo.toString(16).padStart(6, '0')).match(/../g)!.join(':');
}

function ipString(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** One line for a trace, from the key alone (no re-parse, no checksum work). */
export function describeKey(k: FlowKey): string {
  let s = `${macString(k.dlSrcHi, k.dlSrcLo)}→${macString(k.dlDstHi, k.dlDstLo)} type 0x${k.dlType.toString(16).padStart(4, '0')}`;
  if (k.nwSrc >= 0) s += ` ${ipString(k.nwSrc)}→${ipString(k.nwDst)} proto ${k.nwProto}`;
  if (k.tpSrc >= 0) s += ` ports ${k.tpSrc}→${k.tpDst}`;
  return s;
}
