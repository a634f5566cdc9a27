import { describe, expect, it } from 'vitest';
import { FlowCounters, balance, flowKey, mergeFlowCounts } from './index.js';

function udpFrame(): Buffer {
  const b = Buffer.alloc(14 + 20 + 8 + 4);
  b.writeUInt16BE(0x0800, 12);
  b[14] = 0x45;
  b[23] = 17;
  Buffer.from([10, 0, 0, 1]).copy(b, 26);
  Buffer.from([10, 0, 0, 3]).copy(b, 30);
  b.writeUInt16BE(5001, 34);
  b.writeUInt16BE(6001, 36);
  return b;
}

describe('flow keys', () => {
  it('names a UDP flow by its addresses and ports', () => {
    expect(flowKey(udpFrame())).toBe('udp 10.0.0.1:5001>10.0.0.3:6001');
  });
  it('honours the IPv4 header length when finding the ports', () => {
    const f = udpFrame();
    const withOptions = Buffer.concat([f.subarray(0, 34), Buffer.alloc(4), f.subarray(34)]);
    withOptions[14] = 0x46;
    expect(flowKey(withOptions)).toBe('udp 10.0.0.1:5001>10.0.0.3:6001');
  });
  it('counts a VXLAN packet in its inner frame\'s flow', () => {
    const outer = Buffer.alloc(14 + 20 + 8 + 8);
    outer.writeUInt16BE(0x0800, 12);
    outer[14] = 0x45;
    outer[23] = 17;
    Buffer.from([172, 16, 0, 1]).copy(outer, 26);
    Buffer.from([172, 16, 0, 2]).copy(outer, 30);
    outer.writeUInt16BE(49200, 34);
    outer.writeUInt16BE(4789, 36);
    outer[42] = 0x08;
    expect(flowKey(Buffer.concat([outer, udpFrame()]))).toBe('udp 10.0.0.1:5001>10.0.0.3:6001');
  });
  it('calls a runt frame "other" instead of throwing', () => {
    expect(flowKey(Buffer.alloc(5))).toBe('other');
  });
});

describe('conservation', () => {
  it('in flight is what was sent and neither delivered nor dropped', () => {
    const src = new FlowCounters();
    const dom0 = new FlowCounters();
    const dst = new FlowCounters();
    for (let i = 0; i < 10; i++) src.sent('f', 100);
    dom0.dropped('f', 'rx_ring_full', 2);
    for (let i = 0; i < 7; i++) dst.delivered('f', 100);
    const [f] = mergeFlowCounts([src.snapshot(), dom0.snapshot(), dst.snapshot()]);
    const b = balance(f);
    expect(b.dropped).toBe(2);
    expect(b.inFlight).toBe(1);
    expect(b.drops).toEqual({ rx_ring_full: 2 });
  });
});
