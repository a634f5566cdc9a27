// The mark a traced frame carries: its IPv4 source, destination, protocol and
// identification. Every component that handles frames can recognise the probe by its own
// bytes — also when it travels VXLAN-encapsulated, where the mark sits in the inner frame —
// so a trace needs no extra header on any message.
import { ipToNumber, type Ip } from './address.js';
import { VXLAN_PORT } from './vxlan.js';

export interface TraceMark { src: Ip; dst: Ip; protocol: number; ipId: number }

export interface MarkMatch {
  /** Set when the mark was found in the inner frame of a VXLAN packet. */
  vni?: number;
  /** Offset of the marked Ethernet frame in the buffer (0, or 50 inside VXLAN). */
  offset: number;
}

/** Compiled once per trace session: the numbers compared on every frame. */
export function compileMark(m: TraceMark): (frame: Buffer) => MarkMatch | undefined {
  const src = ipToNumber(m.src) >>> 0;
  const dst = ipToNumber(m.dst) >>> 0;
  const look = (b: Buffer, off: number, depth: number): MarkMatch | undefined => {
    if (b.length < off + 34 || b.readUInt16BE(off + 12) !== 0x0800) return undefined;
    const ip = off + 14;
    if (b[ip]! >> 4 !== 4) return undefined;
    const ihl = (b[ip]! & 0x0f) * 4;
    const proto = b[ip + 9]!;
    if (proto === m.protocol && b.readUInt16BE(ip + 4) === m.ipId && b.readUInt32BE(ip + 12) === src && b.readUInt32BE(ip + 16) === dst) {
      return { offset: off };
    }
    // VXLAN: UDP to 4789, then 8 bytes of VXLAN header, then the inner frame
    const l4 = ip + ihl;
    if (depth === 0 && proto === 17 && b.length >= l4 + 16 && b.readUInt16BE(l4 + 2) === VXLAN_PORT) {
      const inner = look(b, l4 + 16, 1);
      if (inner) return { ...inner, vni: b.readUIntBE(l4 + 12, 3) };
    }
    return undefined;
  };
  return (frame) => look(frame, 0, 0);
}
