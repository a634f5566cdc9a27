// Which flow a frame belongs to, read straight from the header bytes (no checksum work:
// this runs wherever a frame is counted, including drop points that see damaged frames).

const VXLAN_PORT = 4789;
const ipStr = (b: Buffer, o: number) => `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;

/**
 * "udp 10.0.0.1:5001>10.0.0.3:5001", "tcp ...", "icmp 10.0.0.1>10.0.0.3", "arp", or
 * "other" for anything else (including frames too short to tell).
 */
export function flowKey(frame: Buffer): string {
  if (frame.length < 14) return 'other';
  const ethertype = frame.readUInt16BE(12);
  if (ethertype === 0x0806) return 'arp';
  if (ethertype !== 0x0800 || frame.length < 34) return 'other';
  const ihl = (frame[14] & 0x0f) * 4;
  const proto = frame[23];
  const src = ipStr(frame, 26);
  const dst = ipStr(frame, 30);
  const l4 = 14 + ihl;
  if ((proto === 6 || proto === 17) && frame.length >= l4 + 4) {
    const sp = frame.readUInt16BE(l4);
    const dp = frame.readUInt16BE(l4 + 2);
    // VXLAN (UDP 4789): the frame belongs to its inner frame's flow, so an overlay flow's
    // drops on the underlay count against the flow the guests sent and received
    if (proto === 17 && dp === VXLAN_PORT && frame.length >= l4 + 16 + 14) return flowKey(frame.subarray(l4 + 16));
    return `${proto === 6 ? 'tcp' : 'udp'} ${src}:${sp}>${dst}:${dp}`;
  }
  if (proto === 1) return `icmp ${src}>${dst}`;
  return `ip${proto} ${src}>${dst}`;
}
