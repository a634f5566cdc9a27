import { describe, expect, it } from 'vitest';
import { parseTopology } from '@vnetlab/topology';
import type { LedgerRowLike, PointFigures } from '../compare/compare_figures.js';
import { EMMERICH_PATHS, coreLoads, emmerichPlan, emmerichPoint, emmerichRows, emmerichTopologyText, switchedPackets } from './emmerich.js';

describe('Emmerich Table I plans', () => {
  it.each(EMMERICH_PATHS)('%s: a valid lab whose DUT joins both NICs on one switch', (path) => {
    for (const sw of ['bridge', 'vswitch'] as const) {
      const plan = emmerichPlan(path, sw);
      const t = parseTopology(emmerichTopologyText(plan), `${plan.name}.yaml`);
      const dut = t.hosts.find((h) => h.name === 'dut')!;
      expect(dut.driver_domain.switch).toBe(sw);
      expect(dut.nics.map((n) => n.bridge)).toEqual(['br0', 'br0']);
      expect(dut.driver_domain.cpus).toEqual([0]);
      // the VMs never share the switch's core
      for (const g of dut.guests) expect(g.vcpus).not.toContain(0);
      expect(dut.guests.map((g) => g.name)).toEqual(plan.vms);
    }
  });

  it('routes the vNIC→vNIC and vNIC→pNIC paths through a forwarding VM', () => {
    expect(emmerichPlan('p2p', 'bridge').pair).toEqual({ src: 'gen', dst: 'sink' });
    expect(emmerichPlan('p2v', 'bridge').pair).toEqual({ src: 'gen', dst: 'vm1' });
    const p2v2p = emmerichPlan('p2v2p', 'bridge');
    expect(p2v2p.pair).toEqual({ src: 'gen', dst: 'sink', via: 'vm1' });
    const t = parseTopology(emmerichTopologyText(emmerichPlan('p2v2v', 'vswitch')), 'x.yaml');
    const dut = t.hosts.find((h) => h.name === 'dut')!;
    expect(dut.guests.map((g) => [g.name, g.ip_forward])).toEqual([['vm1', true], ['vm2', false]]);
  });
});

const row = (pcpu: string, domain: string, primitive: string, cycles: number, ops = 1): LedgerRowLike => ({ host: 'dut', pcpu, domain, primitive, cycles, ops });

describe('Emmerich figures', () => {
  // 1000 packets in; the VM on cpu1 delivered 800 (200 dropped after dom0 handled them)
  const ledger: LedgerRowLike[] = [
    row('cpu0', 'dom0', 'nic_driver_rx', 2_300_000, 1000),
    row('cpu0', 'dom0', 'bridge_lookup', 1_518_000, 1000),
    row('cpu0', 'xen', 'pirq', 200_000, 100),
    row('cpu1', 'vm1', 'stack_rx', 5_600_000, 800),
    { host: 'moongen', pcpu: 'cpu1', domain: 'gen', primitive: 'stack_tx', cycles: 9e9, ops: 1000 },
  ];
  const fig = { packets: 800, windowNs: 800 / 0.4 * 1e3, drops: { rx_backlog_full: 200 } } as unknown as PointFigures;

  it('counts switched packets off dom0 NIC receives and charges the switch core per switched packet', () => {
    expect(switchedPackets(ledger)).toBe(1000);
    const loads = coreLoads(ledger, 1000);
    expect(loads.map((l) => l.pcpu)).toEqual(['cpu1', 'cpu0']); // the generator's host is not the DUT
    const p = emmerichPoint('p2v', 'bridge', fig, ledger, 3.3e9);
    expect(p.switchCore.cyclesPerPacket).toBeCloseTo(4018, 0);
    expect(p.switchCoreMpps).toBeCloseTo(3.3e9 / 4018 / 1e6, 3);
    expect(p.deliveredMpps).toBeCloseTo(0.4, 6);
    expect(p.bottleneck.pcpu).toBe('cpu1');
  });

  it('puts each point beside Table I and explains a VM-bound path', () => {
    const p = emmerichPoint('p2v', 'bridge', fig, ledger, 3.3e9);
    const [r] = emmerichRows([p], 3.3e9);
    expect(r!.published).toBe('0.74 Mpps');
    expect(r!.ratio).toBeCloseTo(p.switchCoreMpps / 0.74, 6);
    expect(r!.explanation).toMatch(/nic_driver_rx 2300/);
    expect(r!.explanation).toMatch(/limited by cpu1 \(vm1/);
    expect(r!.explanation).toMatch(/rx_backlog_full 200/);
  });

  it('compares the two switches on the same path when both ran', () => {
    const p = (sw: 'bridge' | 'vswitch', lookup: string, cycles: number) =>
      emmerichPoint('p2p', sw, { packets: 1000, windowNs: 1e6, drops: {} } as unknown as PointFigures, [row('cpu0', 'dom0', 'nic_driver_rx', 2_300_000, 1000), row('cpu0', 'dom0', lookup, cycles, 1000)], 3.3e9);
    const rows = emmerichRows([p('vswitch', 'flow_lookup', 300_000), p('bridge', 'bridge_lookup', 1_518_000)], 3.3e9);
    const cmp = rows.find((r) => r.experiment.includes('÷'))!;
    expect(cmp.modelled).toBe(`×${((2300 + 1518) / (2300 + 300)).toFixed(2)} (the bridge 1218 cycles/packet more)`);
    // Table I's own difference per packet at 3.3 GHz: (1/1.11 - 1/1.88) µs
    expect(cmp.published).toBe(`×${(1.88 / 1.11).toFixed(2)} (the bridge 1218 cycles/packet more)`);
    expect(cmp.explanation).toMatch(/calibration/);
  });
});
