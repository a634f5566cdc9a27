import { describe, expect, it } from 'vitest';
import { parseTopology, queueSetPlan, type GuestArch } from '@vnetlab/topology';
import { CompareError, DEFAULT_SETUP, SUT_HOST, TRAFFIC_HOST, comparePlan, parseArchSpec, topologyText, type CompareSetup } from './compare_topology.js';

const setup = (arch: string, guests: number, more: Partial<CompareSetup> = {}): CompareSetup => ({ ...DEFAULT_SETUP, arch: parseArchSpec(arch), guests, ...more });
const load = (arch: string, guests: number, more: Partial<CompareSetup> = {}, direction: 'tx' | 'rx' = 'tx') => {
  const plan = comparePlan(setup(arch, guests, more), direction);
  return { plan, topo: parseTopology(topologyText(plan), `${plan.name}.yaml`) };
};

describe('compare topology generator', () => {
  it.each(['pv', 'pv-flip', 'multiqueue', 'cdna'])('generates a topology the lab loads for %s with 1..24 guests', (arch) => {
    for (const g of [1, 2, 4, 8, 24]) {
      const { topo } = load(arch, g, { nics: 2 });
      const sut = topo.hosts.find((h) => h.name === SUT_HOST)!;
      expect(sut.guests).toHaveLength(g);
      expect(sut.nics).toHaveLength(2);
      for (const guest of sut.guests) expect(guest.interfaces[0].arch).toBe(arch === 'pv-flip' ? 'pv' : arch);
    }
  });

  it('receives by page flip for pv-flip and by grant copy for pv', () => {
    expect(load('pv-flip', 2).topo.hosts[0].guests.every((g) => g.interfaces[0].rx_mode === 'flip')).toBe(true);
    expect(load('pv', 2).topo.hosts[0].guests.every((g) => g.interfaces[0].rx_mode === 'copy')).toBe(true);
  });

  it('keeps dom0 alone on cpu0 and spreads guests over the other CPUs, so that guests share cores', () => {
    const { topo } = load('pv', 7, { cpus: 4 });
    const sut = topo.hosts[0];
    expect(sut.driver_domain.cpus).toEqual([0]);
    const perCpu = new Map<number, number>();
    for (const g of sut.guests) perCpu.set(g.vcpus[0], (perCpu.get(g.vcpus[0]) ?? 0) + 1);
    expect([...perCpu.keys()].sort()).toEqual([1, 2, 3]);
    expect(Math.max(...perCpu.values()) - Math.min(...perCpu.values())).toBeLessThanOrEqual(1);
    expect(sut.cpus).toEqual({ count: 4, hz: 2.8e9 });
  });

  it('honours the CPU count, and puts everything on cpu0 with one CPU', () => {
    const one = load('pv', 3, { cpus: 1 }).topo.hosts[0];
    expect(one.guests.map((g) => g.vcpus[0])).toEqual([0, 0, 0]);
    const eight = load('pv', 7, { cpus: 8 }).topo.hosts[0];
    expect(new Set(eight.guests.map((g) => g.vcpus[0])).size).toBe(7);
  });

  it('spreads guests over the NICs, gives each NIC enough queue sets, and cables every NIC to the traffic host', () => {
    const { topo } = load('multiqueue', 5, { nics: 2 });
    const sut = topo.hosts[0];
    expect(sut.guests.map((g) => g.interfaces[0].nic)).toEqual(['eth0', 'eth1', 'eth0', 'eth1', 'eth0']);
    // queue set 0 is dom0's: 3 guests on eth0 need 4
    for (const n of sut.nics) expect(n.queue_sets).toBeGreaterThanOrEqual(4);
    expect(queueSetPlan(sut).filter((q) => q.arch === 'multiqueue')).toHaveLength(5);
    expect(topo.links.map((l) => [l.a, l.b])).toEqual([['sut/eth0', 'traffic/eth0'], ['sut/eth1', 'traffic/eth1']]);
    expect(topo.links.every((l) => l.rate_bps === 1e9)).toBe(true);
  });

  it('gives the traffic host one peer per NIC, each on its own fast CPU', () => {
    const { topo, plan } = load('pv', 6, { nics: 3 });
    const t = topo.hosts.find((h) => h.name === TRAFFIC_HOST)!;
    expect(t.guests.map((g) => g.interfaces[0].nic)).toEqual(['eth0', 'eth1', 'eth2']);
    expect(new Set(t.guests.map((g) => g.vcpus[0])).size).toBe(3);
    expect(t.guests.some((g) => g.vcpus.includes(0))).toBe(false);
    expect(t.cpus.hz).toBeGreaterThan(topo.hosts[0].cpus.hz);
    expect(plan.peers).toEqual(t.guests.map((g) => g.name));
  });

  it('pairs each guest with the peer on its own NIC: guests send for tx, receive for rx', () => {
    const tx = comparePlan(setup('pv', 3, { nics: 2 }), 'tx');
    expect(tx.pairs).toEqual([{ src: 'vm1', dst: 'peer1' }, { src: 'vm2', dst: 'peer2' }, { src: 'vm3', dst: 'peer1' }]);
    const rx = comparePlan(setup('pv', 3, { nics: 2 }), 'rx');
    expect(rx.pairs).toEqual(tx.pairs.map((p) => ({ src: p.dst, dst: p.src })));
    expect(tx.sutGuests).toEqual(['vm1', 'vm2', 'vm3']);
  });

  it('gives every interface a distinct IP', () => {
    const { topo } = load('pv', 24, { nics: 2 });
    const ips = topo.hosts.flatMap((h) => h.guests.map((g) => g.interfaces[0].ip));
    expect(new Set(ips).size).toBe(ips.length);
  });

  it('gives passthrough guests SR-IOV virtual functions, so that more guests than NICs share them', () => {
    const { topo } = load('passthrough', 5, { nics: 2 });
    const sut = topo.hosts[0];
    expect(sut.nics.map((n) => [n.sriov, n.queue_sets])).toEqual([[true, 4], [true, 4]]);
    expect(queueSetPlan(sut).filter((q) => q.arch === 'passthrough').map((q) => [q.nic, q.qs, q.owner])).toEqual([
      ['eth0', 1, 'vm1'], ['eth0', 2, 'vm3'], ['eth0', 3, 'vm5'], ['eth1', 1, 'vm2'], ['eth1', 2, 'vm4'],
    ]);
  });

  it('refuses native with more guests than NICs (each host is one OS on its own NIC), and loads it otherwise', () => {
    for (const arch of ['native'] as GuestArch[]) {
      expect(() => comparePlan(setup(arch, 3, { nics: 2 }), 'tx')).toThrow(CompareError);
      try {
        comparePlan(setup(arch, 3, { nics: 2 }), 'tx');
      } catch (e) {
        expect((e as CompareError).reason).toBe('needs_nic_per_guest');
      }
      const { topo } = load(arch, 2, { nics: 2 });
      expect(new Set(topo.hosts[0].guests.map((g) => g.interfaces[0].nic)).size).toBe(2);
    }
  });

  it('refuses unknown architectures and bad counts with a reason', () => {
    expect(() => parseArchSpec('vmware')).toThrow(/unknown architecture "vmware"/);
    const bad = (more: Partial<CompareSetup>, g = 2) => {
      try {
        comparePlan(setup('pv', g, more), 'tx');
        return 'accepted';
      } catch (e) {
        return (e as CompareError).reason;
      }
    };
    expect(bad({}, 0)).toBe('bad_count');
    expect(bad({ nics: 0 })).toBe('bad_count');
    expect(bad({ cpus: 1.5 })).toBe('bad_count');
    expect(bad({ hz: 0 })).toBe('bad_count');
    expect(bad({}, 300)).toBe('too_many_guests');
    expect(bad({ nics: 1 }, 64)).toBe('too_many_guests');
  });
});

describe('pv offload variants', () => {
  it('reads +csum and +tso after a pv label and gives the interfaces those offloads', () => {
    expect(parseArchSpec('pv+csum+tso')).toEqual({ label: 'pv+csum+tso', arch: 'pv', rxMode: 'copy', offload: { csum: true, tso: true } });
    expect(parseArchSpec('pv-flip+tso')).toMatchObject({ arch: 'pv', rxMode: 'flip', offload: { csum: false, tso: true } });
    const { topo, plan } = load('pv+csum', 2);
    expect(plan.name).toBe('cmp-pv_csum-2');
    expect(topo.hosts[0]!.guests.every((g) => g.interfaces[0]!.offload.csum && !g.interfaces[0]!.offload.tso)).toBe(true);
    expect(load('pv', 1).topo.hosts[0]!.guests[0]!.interfaces[0]!.offload).toEqual({ csum: false, tso: false });
  });

  it('reads pv-map and +noremap as pv transmit paths and gives the interfaces their tx_mode', () => {
    expect(parseArchSpec('pv-map')).toEqual({ label: 'pv-map', arch: 'pv', rxMode: 'copy', txMode: 'map' });
    expect(parseArchSpec('pv+csum+tso+noremap')).toEqual({ label: 'pv+csum+tso+noremap', arch: 'pv', rxMode: 'copy', txMode: 'noremap', offload: { csum: true, tso: true } });
    expect(parseArchSpec('pv+noremap')).toEqual({ label: 'pv+noremap', arch: 'pv', rxMode: 'copy', txMode: 'noremap' });
    expect(load('pv+noremap', 1).topo.hosts[0]!.guests[0]!.interfaces[0]!.tx_mode).toBe('noremap');
    expect(load('pv-map+csum', 1).topo.hosts[0]!.guests[0]!.interfaces[0]).toMatchObject({ tx_mode: 'map', offload: { csum: true, tso: false } });
    expect(load('pv', 1).topo.hosts[0]!.guests[0]!.interfaces[0]!.tx_mode).toBe('copy');
    expect(() => parseArchSpec('pv-map+noremap')).toThrow(/take one/);
    expect(() => parseArchSpec('cdna+noremap')).toThrow(CompareError);
  });

  it('refuses offloads on other architectures and unknown offloads', () => {
    expect(() => parseArchSpec('cdna+csum')).toThrow(CompareError);
    expect(() => parseArchSpec('pv+lro')).toThrow(/unknown option lro/);
  });

  it('gives the SUT NICs the offloads asked for, and the traffic host none', () => {
    const { topo } = load('pv+csum+tso', 1, { nicOffload: { csum: true, tso: true } });
    expect(topo.hosts.find((h) => h.name === SUT_HOST)!.nics[0]!.offload).toEqual({ csum: true, tso: true });
    expect(topo.hosts.find((h) => h.name === TRAFFIC_HOST)!.nics[0]!.offload).toEqual({ csum: false, tso: false });
  });
});

describe('superpages and the driver domain as the endpoint', () => {
  it('+super maps the guests\' and the driver domain\'s kernels with superpages, on any Xen architecture', () => {
    expect(parseArchSpec('pv-map+super')).toEqual({ label: 'pv-map+super', arch: 'pv', rxMode: 'copy', txMode: 'map', superpages: true });
    expect(parseArchSpec('pv+csum+tso+noremap+super')).toMatchObject({ txMode: 'noremap', offload: { csum: true, tso: true }, superpages: true });
    const { topo } = load('cdna+super', 2);
    expect(topo.hosts[0]!.driver_domain.superpages).toBe(true);
    expect(topo.hosts[0]!.guests.every((g) => g.superpages)).toBe(true);
    // the traffic host keeps the default
    expect(topo.hosts[1]!.driver_domain.superpages).toBe(false);
    expect(load('pv', 1).topo.hosts[0]!.guests[0]!.superpages).toBe(false);
    expect(() => parseArchSpec('pv-flip+super')).toThrow(/splits a superpage/);
    expect(() => parseArchSpec('native+super')).toThrow(/already/);
    expect(() => parseArchSpec('pv+huge')).toThrow(/unknown option huge/);
  });

  it('dom0 receives itself: no guest on the system under test, its driver domain the destination', () => {
    const plan = comparePlan(setup('dom0+super', 1), 'rx');
    const sut = plan.topology.hosts[0]!;
    expect(sut.guests).toEqual([]);
    expect(sut.driver_domain).toMatchObject({ ip: '10.0.0.1', superpages: true });
    expect(plan.pairs).toEqual([{ src: 'peer1', dst: `${SUT_HOST}/dom0` }]);
    expect(plan.sutGuests).toEqual([`${SUT_HOST}/dom0`]);
    expect(() => comparePlan(setup('dom0', 1), 'tx')).toThrow(/--direction rx/);
    expect(() => comparePlan(setup('dom0', 2), 'rx')).toThrow(/--guests 1/);
    expect(() => parseArchSpec('dom0+csum')).toThrow(/not dom0's/);
  });
});
