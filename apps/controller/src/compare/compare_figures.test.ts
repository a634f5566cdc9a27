import { describe, expect, it } from 'vitest';
import { perPrimitive, pointFigures, primitiveBreakdown, type TrafficLike } from './compare_figures.js';
import { explainTable, summaryTable } from './compare_report.js';

const row = (host: string, pcpu: string, domain: string, primitive: string, cycles: number, ops: number) => ({ host, pcpu, domain, primitive, cycles, ops });

/** Two guests sent 100 packets each through a bridge; the traffic host's rows must not count. */
function traffic(): TrafficLike {
  return {
    bytesSent: 200_000,
    bytesDelivered: 190_000,
    startNs: 1_000,
    endNs: 2_001_000,
    throughputBps: 760e6,
    transfers: [
      { src: 'vm1', dst: 'peer1', flow: 'udp a>p', bytesSent: 100_000, bytesDelivered: 100_000, throughputBps: 1 },
      { src: 'vm2', dst: 'peer1', flow: 'udp b>p', bytesSent: 100_000, bytesDelivered: 90_000, throughputBps: 1 },
    ],
    ledger: [
      row('sut', 'cpu0', 'dom0', 'bridge_lookup', 200 * 150, 200),
      row('sut', 'cpu0', 'xen', 'grant_copy_op', 190 * 400, 190),
      row('sut', 'cpu0', 'xen', 'copy_byte', 190 * 1500 * 0.3, 190 * 1500),
      row('sut', 'cpu1', 'vm1', 'stack_tx', 100 * 2500, 100),
      row('sut', 'cpu1', 'vm2', 'stack_tx', 100 * 2500, 100),
      row('sut', 'cpu1', 'xen', 'hypercall', 1080 * 10, 10),
      row('traffic', 'cpu1', 'peer1', 'stack_rx', 1e9, 190),
    ],
    flows: [
      { flow: 'udp a>p', sentFrames: 100, deliveredFrames: 100, drops: {}, inFlight: 0 },
      { flow: 'udp b>p', sentFrames: 100, deliveredFrames: 90, drops: { nic_rx_full: 10 }, inFlight: 0 },
      { flow: 'udp p>a', sentFrames: 7, deliveredFrames: 7, drops: {}, inFlight: 0 },
    ],
    cpus: [
      { host: 'sut', pcpu: 'cpu0', domain: 'dom0', util: 0.3 },
      { host: 'sut', pcpu: 'cpu0', domain: 'xen', util: 0.2 },
      { host: 'sut', pcpu: 'cpu0', domain: 'idle', util: 0.5 },
      { host: 'sut', pcpu: 'cpu1', domain: 'vm1', util: 0.25 },
      { host: 'sut', pcpu: 'cpu1', domain: 'vm2', util: 0.25 },
      { host: 'sut', pcpu: 'cpu1', domain: 'xen', util: 0.1 },
      { host: 'sut', pcpu: 'cpu1', domain: 'idle', util: 0.4 },
      { host: 'traffic', pcpu: 'cpu1', domain: 'peer1', util: 0.9 },
    ],
  };
}

const ctx = { arch: 'pv', guests: 2, sutHost: 'sut', sutGuests: ['vm1', 'vm2'], cpuCount: 2, wireBps: 1e9 };

describe('comparison figures', () => {
  it('counts only the data flows\' delivered frames as packets, and what they lost', () => {
    const p = pointFigures(traffic(), ctx);
    expect(p.packets).toBe(190);
    expect(p.lost).toBe(10);
    expect(p.drops).toEqual({ nic_rx_full: 10 });
    expect(p.windowNs).toBe(2_000_000);
  });

  it('groups the SUT\'s CPU into dom0, xen, guests and idle, leaving the traffic host out', () => {
    const p = pointFigures(traffic(), ctx);
    expect(p.cpu.dom0).toBeCloseTo(0.3);
    expect(p.cpu.xen).toBeCloseTo(0.3);
    expect(p.cpu.guests).toBeCloseTo(0.5);
    expect(p.cpu.idle).toBeCloseTo(0.9);
    expect(p.cpu.other).toBe(0);
    expect(Object.values(p.cpu).reduce((a, b) => a + b, 0)).toBeCloseTo(p.cpuCount);
    expect(p.pcpus.map((c) => c.pcpu)).toEqual(['cpu0', 'cpu1']);
    expect(p.pcpus[1].guests).toBeCloseTo(0.5);
  });

  it('breaks the SUT\'s cycles per packet down by primitive and by who paid them', () => {
    const p = pointFigures(traffic(), ctx);
    const get = (group: string, prim: string) => p.breakdown.find((b) => b.group === group && b.primitive === prim)!;
    expect(get('dom0', 'bridge_lookup').cyclesPerPacket).toBeCloseTo((200 * 150) / 190);
    expect(get('dom0', 'bridge_lookup').opsPerPacket).toBeCloseTo(200 / 190);
    expect(get('xen', 'copy_byte').opsPerPacket).toBeCloseTo(1500);
    // two guests' stack_tx rows fold into one "guests" row
    expect(p.breakdown.filter((b) => b.primitive === 'stack_tx')).toHaveLength(1);
    expect(get('guests', 'stack_tx').cycles).toBe(500_000);
    expect(p.breakdown.some((b) => b.primitive === 'stack_rx')).toBe(false);
    // largest first, and the groups add up to the total
    expect(p.breakdown[0].primitive).toBe('stack_tx');
    const sum = p.breakdown.reduce((n, b) => n + b.cyclesPerPacket, 0);
    expect(p.cyclesPerPacket).toBeCloseTo(sum);
    expect(p.cyclesPerPacketByGroup.xen).toBeCloseTo((190 * 400 + 190 * 1500 * 0.3 + 10800) / 190);
  });

  it('adds a primitive\'s cycles over the groups that paid them', () => {
    const rows = [row('h', 'cpu0', 'dom0', 'copy_byte', 100, 10), row('h', 'cpu0', 'xen', 'copy_byte', 300, 30), row('h', 'cpu1', 'g', 'copy_byte', 600, 60)];
    const b = primitiveBreakdown(rows, 'h', new Set(['g']), 10);
    expect(b.map((x) => x.group)).toEqual(['guests', 'xen', 'dom0']);
    expect(perPrimitive(b).get('copy_byte')).toBe(100);
  });

  it('reports zero per packet rather than infinity when nothing was delivered', () => {
    const r = traffic();
    r.flows = r.flows.map((f) => ({ ...f, deliveredFrames: 0 }));
    const p = pointFigures(r, ctx);
    expect(p.packets).toBe(0);
    expect(p.cyclesPerPacket).toBe(0);
    expect(p.lost).toBe(200);
  });

  it('prints a summary row per point and an explain column per architecture', () => {
    const a = pointFigures(traffic(), ctx);
    const b = pointFigures(traffic(), { ...ctx, arch: 'multiqueue' });
    const s = summaryTable([a, b]);
    expect(s.split('\n')).toHaveLength(4);
    expect(s).toContain('76.0%');
    const e = explainTable([a, b]);
    expect(e.split('\n')[0]).toMatch(/pv \(2\).*multiqueue \(2\)/);
    expect(e).toContain('bridge_lookup');
    expect(e).toContain('= total');
  });
});
