import { describe, it, expect } from 'vitest';
import {
  buildUdpFrame, buildArpFrame, decapVxlan, encapVxlan, FrameError, internetChecksum, isVxlanTo, parseFrame,
  vxlanSourcePort, VXLAN_OVERHEAD, VXLAN_PORT, VXLAN_SRC_PORT_MAX, VXLAN_SRC_PORT_MIN,
} from './index.js';

function reasonOf(fn: () => unknown): string | undefined {
  try { fn(); } catch (e) { if (e instanceof FrameError) return e.reason; throw e; }
  return undefined;
}

const inner = (srcPort = 1000, payload = 'hello overlay', dstIp = '192.168.1.2') => buildUdpFrame({
  srcMac: '02:00:00:00:0a:01', dstMac: '02:00:00:00:0a:02', srcIp: '192.168.1.1', dstIp,
  srcPort, dstPort: 2000, payload: Buffer.from(payload),
});

const spec = (i: Buffer, over: Partial<Parameters<typeof encapVxlan>[0]> = {}) => ({
  inner: i, vni: 0x123456, outerSrcMac: '02:aa:00:00:00:01', outerDstMac: '02:bb:00:00:00:02',
  srcIp: '172.16.0.1', dstIp: '172.16.0.2', ...over,
});

describe('VXLAN encapsulation (RFC 7348 layout)', () => {
  it('writes outer Ethernet, IPv4, UDP and the VXLAN header at their offsets, and adds exactly 50 bytes', () => {
    const i = inner();
    const out = encapVxlan(spec(i, { srcPort: 50000, ttl: 17 }));
    expect(VXLAN_OVERHEAD).toBe(50);
    expect(out.length).toBe(i.length + 50);
    // outer Ethernet
    expect(out.subarray(0, 6).toString('hex')).toBe('02bb00000002');
    expect(out.subarray(6, 12).toString('hex')).toBe('02aa00000001');
    expect(out.readUInt16BE(12)).toBe(0x0800);
    // outer IPv4
    expect(out[14]).toBe(0x45);
    expect(out.readUInt16BE(16)).toBe(20 + 8 + 8 + i.length);   // total length
    expect(out.readUInt16BE(20) & 0x4000).toBe(0x4000);           // DF set by default
    expect(out[22]).toBe(17);                                      // ttl
    expect(out[23]).toBe(17);                                      // protocol UDP
    expect(internetChecksum(out, 14, 34)).toBe(0);                 // header checksum verifies
    expect(out.subarray(26, 30)).toEqual(Buffer.from([172, 16, 0, 1]));
    expect(out.subarray(30, 34)).toEqual(Buffer.from([172, 16, 0, 2]));
    // outer UDP
    expect(out.readUInt16BE(34)).toBe(50000);
    expect(out.readUInt16BE(36)).toBe(VXLAN_PORT);
    expect(VXLAN_PORT).toBe(4789);
    expect(out.readUInt16BE(38)).toBe(8 + 8 + i.length);
    expect(out.readUInt16BE(40)).toBe(0);                          // zero checksum by default
    // VXLAN header: I flag, reserved zero, VNI in bytes 4..6, reserved zero
    expect(out.subarray(42, 50).toString('hex')).toBe('0800000012345600');
    expect(out.subarray(50)).toEqual(i);
  });

  it('computes a verifying UDP checksum when asked, and clears DF when asked', () => {
    const out = encapVxlan(spec(inner(), { udpChecksum: true, dfSet: false }));
    expect(out.readUInt16BE(40)).not.toBe(0);
    expect(out.readUInt16BE(20) & 0x4000).toBe(0);
    const p = parseFrame(out);                                     // verifies IPv4 and UDP checksums
    expect(p.udp!.dstPort).toBe(VXLAN_PORT);
    expect(decapVxlan(out).outer.df).toBe(false);
  });

  it('refuses an out-of-range VNI, a bad address and an inner frame shorter than Ethernet', () => {
    expect(reasonOf(() => encapVxlan(spec(inner(), { vni: 0x1000000 })))).toBe('bad_field');
    expect(reasonOf(() => encapVxlan(spec(inner(), { vni: -1 })))).toBe('bad_field');
    expect(reasonOf(() => encapVxlan(spec(inner(), { dstIp: '300.0.0.1' })))).toBe('bad_address');
    expect(reasonOf(() => encapVxlan(spec(Buffer.alloc(10))))).toBe('truncated');
  });
});

describe('VXLAN decapsulation', () => {
  it('round-trips VNI, inner frame and outer header fields', () => {
    const i = inner();
    const p = decapVxlan(encapVxlan(spec(i, { srcPort: 60001, ttl: 9 })));
    expect(p.vni).toBe(0x123456);
    expect(p.inner).toEqual(i);
    expect(p.outer).toEqual({
      srcMac: '02:aa:00:00:00:01', dstMac: '02:bb:00:00:00:02', srcIp: '172.16.0.1', dstIp: '172.16.0.2',
      ttl: 9, df: true, srcPort: 60001, dstPort: 4789, udpChecksum: 0, flags: 0x08,
    });
  });

  it('refuses a header without the I flag as bad_flags but ignores reserved bits', () => {
    const out = encapVxlan(spec(inner()));
    const noI = Buffer.from(out); noI[42] = 0x00;
    expect(reasonOf(() => decapVxlan(noI))).toBe('bad_flags');
    const reserved = Buffer.from(out); reserved[42] = 0x0c; reserved[43] = 0xff; reserved[49] = 0xff;
    expect(decapVxlan(reserved).vni).toBe(0x123456);
  });

  it('says not_vxlan for other packets and truncated for short ones', () => {
    expect(reasonOf(() => decapVxlan(inner()))).toBe('not_vxlan');                    // UDP to port 2000
    expect(reasonOf(() => decapVxlan(buildArpFrame({ op: 1, senderMac: '02:00:00:00:00:01', senderIp: '10.0.0.1', targetMac: '00:00:00:00:00:00', targetIp: '10.0.0.2' })))).toBe('not_vxlan');
    expect(reasonOf(() => decapVxlan(encapVxlan(spec(inner(), { dstPort: 8472 }))))).toBe('not_vxlan');
    expect(decapVxlan(encapVxlan(spec(inner(), { dstPort: 8472 })), 8472).vni).toBe(0x123456);
    expect(reasonOf(() => decapVxlan(Buffer.alloc(5)))).toBe('truncated');
    // a UDP datagram to 4789 too short for the VXLAN header
    const tiny = buildUdpFrame({ srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02', srcIp: '1.1.1.1', dstIp: '2.2.2.2', srcPort: 1, dstPort: 4789, payload: Buffer.alloc(4) });
    expect(reasonOf(() => decapVxlan(tiny))).toBe('truncated');
  });

  it('refuses a corrupted outer IPv4 header by its checksum', () => {
    const out = encapVxlan(spec(inner()));
    out[22] = 1; // ttl changed behind the checksum's back
    expect(reasonOf(() => decapVxlan(out))).toBe('bad_checksum');
  });

  it('isVxlanTo recognises VXLAN to the local VTEP only', () => {
    const out = encapVxlan(spec(inner()));
    expect(isVxlanTo(out, '172.16.0.2')).toBe(true);
    expect(isVxlanTo(out, '172.16.0.3')).toBe(false);
    expect(isVxlanTo(inner(), '192.168.1.2')).toBe(false);
  });
});

describe('VXLAN source port entropy', () => {
  it('is the same for every frame of one flow, whatever the payload', () => {
    const a = vxlanSourcePort(inner(1000, 'a'));
    expect(vxlanSourcePort(inner(1000, 'a much longer payload than before'))).toBe(a);
    expect(encapVxlan(spec(inner(1000, 'xyz'))).readUInt16BE(34)).toBe(a);
  });

  it('stays in the dynamic range 49152-65535 and spreads different flows', () => {
    const ports = new Set<number>();
    for (let p = 1; p <= 64; p++) {
      const port = vxlanSourcePort(inner(p));
      expect(port).toBeGreaterThanOrEqual(VXLAN_SRC_PORT_MIN);
      expect(port).toBeLessThanOrEqual(VXLAN_SRC_PORT_MAX);
      ports.add(port);
    }
    expect(ports.size).toBeGreaterThan(32);
    expect(vxlanSourcePort(inner(1000, 'x', '192.168.1.3'))).not.toBe(vxlanSourcePort(inner(1000, 'x', '192.168.1.2')));
  });
});
