import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FlowCounters, FlowJournal, balance, flowKey, mergeFlowCounts } from './index.js';

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

describe('FlowJournal', () => {
  const dir = mkdtempSync(join(tmpdir(), 'flowjournal-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps every count past the process: a new run that resumes reads them back, and adds its own', () => {
    const path = join(dir, 'dom0.flows');
    const first = new FlowJournal(path, { resume: false });
    const a = new FlowCounters(first.record);
    a.sent('udp x', 100, 5);
    a.dropped('udp x', 'no_buffer');
    a.dropped('udp x', 'no_buffer', 2);
    a.sent('arp', 42);
    // killed here: no close, no snapshot; only what was appended
    const second = new FlowJournal(path, { resume: true });
    expect(second.previous).toEqual([
      { flow: 'udp x', sentFrames: 1, sentBytes: 100, deliveredFrames: 0, deliveredBytes: 0, drops: { no_buffer: 3 }, firstSentNs: 5, lastSentNs: 5 },
      { flow: 'arp', sentFrames: 1, sentBytes: 42, deliveredFrames: 0, deliveredBytes: 0, drops: {} },
    ]);
    new FlowCounters(second.record).dropped('udp x', 'queue_full');
    second.close();
    const third = new FlowJournal(path, { resume: true });
    expect(third.previous.find((f) => f.flow === 'udp x')?.drops).toEqual({ no_buffer: 3, queue_full: 1 });
    expect(third.unreadable).toBe(0);
    third.close();
  });

  it('a fresh run forgets what an earlier lab left, and a line cut by the kill is skipped and counted', () => {
    const path = join(dir, 'cut.flows');
    writeFileSync(path, `${JSON.stringify(['x', 'tcp y', 'no_buffer', 4])}\n["s","tcp y",6`);
    const resumed = new FlowJournal(path, { resume: true });
    expect(resumed.previous).toEqual([{ flow: 'tcp y', sentFrames: 0, sentBytes: 0, deliveredFrames: 0, deliveredBytes: 0, drops: { no_buffer: 4 } }]);
    expect(resumed.unreadable).toBe(1);
    resumed.close();
    const fresh = new FlowJournal(path, { resume: false });
    expect(fresh.previous).toEqual([]);
    fresh.close();
    expect(new FlowJournal(path, { resume: true }).previous).toEqual([]);
  });

  it('refuses what is not a count', () => {
    const c = new FlowCounters();
    expect(() => c.apply(['x', 'f', 'r', -1])).toThrow();
    expect(() => c.apply(['s', 'f', Number.NaN])).toThrow();
    expect(() => c.apply(['q', 'f'] as never)).toThrow();
  });
});
