import { describe, expect, it } from 'vitest';
import { buildIcmpEchoFrame, buildUdpFrame } from './frame_builder.js';
import { compileMark } from './trace_mark.js';
import { encapVxlan } from './vxlan.js';

const ends = { srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02', srcIp: '10.0.0.1', dstIp: '10.0.0.2' };
const probe = buildIcmpEchoFrame({ ...ends, id: 1, seq: 1, data: Buffer.alloc(8), ipId: 4242 });

describe('trace mark', () => {
  const match = compileMark({ src: '10.0.0.1', dst: '10.0.0.2', protocol: 1, ipId: 4242 });

  it('recognises the probe by its IPv4 ends, protocol and identification', () => {
    expect(match(probe)).toEqual({ offset: 0 });
    const otherId = buildIcmpEchoFrame({ ...ends, id: 1, seq: 1, data: Buffer.alloc(8), ipId: 4243 });
    expect(match(otherId)).toBeUndefined();
    const udp = buildUdpFrame({ ...ends, srcPort: 1, dstPort: 2, payload: Buffer.alloc(4), id: 4242 });
    expect(match(udp)).toBeUndefined();
  });

  it('finds the mark inside a VXLAN packet and says its VNI', () => {
    const outer = encapVxlan({ inner: probe, vni: 100, outerSrcMac: '02:aa:00:00:00:01', outerDstMac: '02:aa:00:00:00:02', srcIp: '172.16.0.1', dstIp: '172.16.0.2' });
    expect(match(outer)).toEqual({ offset: 50, vni: 100 });
  });

  it('never throws on short or foreign frames', () => {
    expect(match(Buffer.alloc(0))).toBeUndefined();
    expect(match(probe.subarray(0, 20))).toBeUndefined();
  });
});
