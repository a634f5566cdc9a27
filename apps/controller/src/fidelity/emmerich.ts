// Emmerich et al., CloudNet 2014, Table I (seed 002): the single-core data plane of a
// software switch on four paths — pNIC→pNIC, pNIC→vNIC, pNIC→vNIC→pNIC, pNIC→vNIC→vNIC —
// with the Linux bridge, Open vSwitch and IP forwarding (a routing dom0 with proxy ARP). The lab's device under test (DUT) is a host whose
// driver domain joins two NICs on one switch (the topology's `bridge`), with one core; a
// generator and a sink on hosts of their own, fast enough never to limit (MoonGen's role).
// A vNIC is a pv interface (netfront/netback: the lab's virtual NIC; Emmerich's was KVM's
// virtio), and the VM in the middle of a path forwards with its kernel (ip_forward).
// Pure functions: plans in, topology objects and report rows out.
import type { LedgerRowLike, PointFigures } from '../compare/compare_figures.js';
import type { FidelityRow } from './fidelity_report.js';

export const EMMERICH_PATHS = ['p2p', 'p2v', 'p2v2p', 'p2v2v'] as const;
export type EmmerichPath = (typeof EMMERICH_PATHS)[number];
export const EMMERICH_SWITCHES = ['vswitch', 'bridge', 'router'] as const;
export type EmmerichSwitch = (typeof EMMERICH_SWITCHES)[number];

export const PATH_LABEL: Record<EmmerichPath, string> = { p2p: 'pNIC→pNIC', p2v: 'pNIC→vNIC', p2v2p: 'pNIC→vNIC→pNIC', p2v2v: 'pNIC→vNIC→vNIC' };

/** Table I, Mpps on one core (fidelity.md). */
export const EMMERICH_PUBLISHED: Record<EmmerichSwitch, Record<EmmerichPath, number>> = {
  vswitch: { p2p: 1.88, p2v: 0.85, p2v2p: 0.3, p2v2v: 0.27 },
  bridge: { p2p: 1.11, p2v: 0.74, p2v2p: 0.2, p2v2v: 0.19 },
  router: { p2p: 1.58, p2v: 0.78, p2v2p: 0.19, p2v2v: 0.16 },
};
const SWITCH_NAME: Record<EmmerichSwitch, string> = { vswitch: 'Open vSwitch', bridge: 'Linux bridge', router: 'IP forwarding' };

export const DUT_HOST = 'dut';
/** Emmerich's DUT: an Intel Xeon E3-1230 V2 at 3.3 GHz; the switch on one of its cores. */
export const DUT_HZ = 3.3e9;
/** 10 GbE as in the paper: 14.88 Mpps of minimum-size frames, never the limit here. */
const RATE_BPS = 10e9;
/** UDP payload of a minimum-size frame: 64 bytes with FCS = 14 + 20 + 8 + 18 + 4. */
export const SMALL_PAYLOAD = 18;

export interface EmmerichPlan {
  name: string;
  path: EmmerichPath;
  sw: EmmerichSwitch;
  topology: Record<string, unknown>;
  pair: { src: string; dst: string; via?: string };
  /** The DUT's guests (the VMs of the path). */
  vms: string[];
}

const host = (name: string, cpus: number, hz: number, nics: Array<Record<string, unknown>>, guests: Array<Record<string, unknown>>, sw: EmmerichSwitch = 'bridge', routes?: Array<Record<string, string>>) => ({
  name, cpus: { count: cpus, hz }, memory_mib: 64 + 16 * guests.length + 64,
  driver_domain: { cpus: [0], memory_mib: 64, switch: sw, ...(routes ? { routes } : {}) }, nics, guests,
});
const vm = (name: string, cpu: number, ip: string, forward = false) => ({
  name, memory_mib: 16, vcpus: [cpu], ...(forward ? { ip_forward: true } : {}),
  interfaces: [{ arch: 'pv', ip, nic: 'eth0' }],
});
const bare = (name: string, ip: string) => ({ name, memory_mib: 16, vcpus: [1], interfaces: [{ arch: 'native', ip, nic: 'eth0' }] });

/**
 * The lab of one (path, switch) point. The generator and sink are native guests on hosts
 * clocked `toolHz` (far above the DUT's); the DUT's VMs sit on cores of their own, so the
 * switch's core is the one under test.
 */
export function emmerichPlan(path: EmmerichPath, sw: EmmerichSwitch, toolHz = DUT_HZ * 10): EmmerichPlan {
  const vms = path === 'p2p' ? [] : path === 'p2v2v' ? ['vm1', 'vm2'] : ['vm1'];
  const guests = vms.map((n, i) => vm(n, i + 1, `10.0.0.${i + 11}`, path !== 'p2v' && i === 0));
  // both NICs of the DUT on one switch: dom0 forwards between them
  const dutNics = ['eth0', 'eth1'].map((n) => ({ name: n, rate_bps: RATE_BPS, bridge: 'br0' }));
  // a routing dom0 sends the path through its VM by the port a packet came in on (ip rule iif)
  const routes: Array<Record<string, string>> | undefined =
    sw !== 'router' || path === 'p2p' || path === 'p2v' ? undefined
    : path === 'p2v2p' ? [
      { dst: '10.0.0.2', dev: 'vm1', via: '10.0.0.11', iif: 'eth0' }, { dst: '10.0.0.2', dev: 'eth1', iif: 'vm1' },
      { dst: '10.0.0.11', dev: 'vm1' }, { dst: '10.0.0.1', dev: 'eth0' },
    ]
    : [
      { dst: '10.0.0.12', dev: 'vm1', via: '10.0.0.11', iif: 'eth0' }, { dst: '10.0.0.12', dev: 'vm2', iif: 'vm1' },
      { dst: '10.0.0.11', dev: 'vm1' }, { dst: '10.0.0.1', dev: 'eth0' },
    ];
  const name = `emmerich-${path}-${sw}`;
  const topology = {
    name,
    hosts: [
      host('moongen', 2, toolHz, [{ name: 'eth0', rate_bps: RATE_BPS }], [bare('gen', '10.0.0.1')]),
      host(DUT_HOST, 1 + Math.max(1, vms.length), DUT_HZ, dutNics, guests, sw, routes),
      host('moonsink', 2, toolHz, [{ name: 'eth0', rate_bps: RATE_BPS }], [bare('sink', '10.0.0.2')]),
    ],
    links: [
      { a: 'moongen/eth0', b: `${DUT_HOST}/eth0`, rate_bps: RATE_BPS },
      { a: `${DUT_HOST}/eth1`, b: 'moonsink/eth0', rate_bps: RATE_BPS },
    ],
  };
  const pair =
    path === 'p2p' ? { src: 'gen', dst: 'sink' }
    : path === 'p2v' ? { src: 'gen', dst: 'vm1' }
    : path === 'p2v2p' ? { src: 'gen', dst: 'sink', via: 'vm1' }
    : { src: 'gen', dst: 'vm2', via: 'vm1' };
  return { name, path, sw, topology, pair, vms };
}

export function emmerichTopologyText(plan: EmmerichPlan): string {
  return `# generated by vnetlab fidelity (Emmerich Table I): ${plan.name}\n${JSON.stringify(plan.topology, null, 2)}\n`;
}

/** One DUT core's work over the run: its cycles per forwarded packet and the largest items. */
export interface CoreLoad {
  pcpu: string;
  domains: string[];
  cyclesPerPacket: number;
  top: Array<{ primitive: string; cyclesPerPacket: number }>;
}

export interface EmmerichPoint {
  path: EmmerichPath;
  sw: EmmerichSwitch;
  packets: number;
  /** Packets dom0 took off the NIC of the generator's side: what the switch core worked on. */
  switched: number;
  /** Packets delivered at the path's end per modelled second, in Mpps. */
  deliveredMpps: number;
  /**
   * What the switch's core (dom0's) sustains: clock ÷ its cycles per packet it took in. Per
   * packet taken in, not delivered: at saturation a slower VM drops some after dom0 worked on
   * them, and that work is not the switch's cost per packet.
   */
  switchCoreMpps: number;
  /** The DUT's busiest core: it sets the path's rate. */
  bottleneck: CoreLoad;
  switchCore: CoreLoad;
  drops: Record<string, number>;
}

/** Per DUT core: cycles per delivered packet and the primitives that make them. */
export function coreLoads(ledger: LedgerRowLike[], packets: number, dutHost = DUT_HOST): CoreLoad[] {
  const by = new Map<string, { domains: Set<string>; prims: Map<string, number>; cycles: number }>();
  for (const r of ledger) {
    if (r.host !== dutHost || r.cycles <= 0) continue;
    const c = by.get(r.pcpu) ?? { domains: new Set(), prims: new Map(), cycles: 0 };
    c.domains.add(r.domain);
    c.prims.set(r.primitive, (c.prims.get(r.primitive) ?? 0) + r.cycles);
    c.cycles += r.cycles;
    by.set(r.pcpu, c);
  }
  const n = Math.max(1, packets);
  return [...by]
    .map(([pcpu, c]) => ({
      pcpu,
      domains: [...c.domains].sort(),
      cyclesPerPacket: c.cycles / n,
      top: [...c.prims].sort((a, b) => b[1] - a[1]).slice(0, 4).map(([primitive, cy]) => ({ primitive, cyclesPerPacket: cy / n })),
    }))
    .sort((a, b) => b.cyclesPerPacket - a.cyclesPerPacket);
}

/** Frames dom0's NIC driver received on the DUT (one per packet entering the switch). */
export function switchedPackets(ledger: LedgerRowLike[], dutHost = DUT_HOST): number {
  return ledger.filter((r) => r.host === dutHost && r.domain === 'dom0' && r.primitive === 'nic_driver_rx').reduce((n, r) => n + r.ops, 0);
}

export function emmerichPoint(path: EmmerichPath, sw: EmmerichSwitch, p: PointFigures, ledger: LedgerRowLike[], hz = DUT_HZ): EmmerichPoint {
  const switched = switchedPackets(ledger);
  const none: CoreLoad = { pcpu: 'cpu0', domains: [], cyclesPerPacket: 0, top: [] };
  const switchCore = coreLoads(ledger, switched).find((l) => l.domains.includes('dom0')) ?? none;
  // the path's rate is set by the core with most work per delivered packet
  const loads = coreLoads(ledger, p.packets);
  return {
    path, sw, packets: p.packets, switched,
    deliveredMpps: p.windowNs > 0 ? (p.packets / p.windowNs) * 1e3 : 0,
    switchCoreMpps: switchCore.cyclesPerPacket > 0 ? hz / switchCore.cyclesPerPacket / 1e6 : 0,
    bottleneck: loads[0] ?? none,
    switchCore,
    drops: p.drops,
  };
}

const mpps = (x: number) => `${x.toFixed(2)} Mpps`;
const items = (l: CoreLoad) => l.top.map((t) => `${t.primitive} ${Math.round(t.cyclesPerPacket)}`).join(', ');

/**
 * One row per (switch, path): the switch core's rate (Table I's single-core figure) beside
 * the published one; the explanation gives what that core pays per packet, and the path's
 * end-to-end rate when another core (a VM's) is slower.
 */
export function emmerichRows(points: EmmerichPoint[], hz = DUT_HZ): FidelityRow[] {
  const rows: FidelityRow[] = [];
  for (const p of points) {
    const published = EMMERICH_PUBLISHED[p.sw][p.path];
    const other = p.bottleneck.pcpu !== p.switchCore.pcpu && p.deliveredMpps < 0.95 * p.switchCoreMpps;
    const dropped = Object.entries(p.drops).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(', ');
    rows.push({
      experiment: `Emmerich 2014 Table I: ${SWITCH_NAME[p.sw]}, ${PATH_LABEL[p.path]} (seed 002)`,
      setup: `one ${(hz / 1e9).toFixed(1)} GHz core for dom0's ${p.sw} (two 10 GbE NICs on one switch), 64-byte frames at saturation, ${p.switched} switched, ${p.packets} delivered; rate = clock ÷ that core's cycles per packet switched`,
      published: mpps(published),
      modelled: `${mpps(p.switchCoreMpps)} (${Math.round(p.switchCore.cyclesPerPacket)} cycles/packet); end to end ${mpps(p.deliveredMpps)}`,
      ratio: p.switchCoreMpps / published,
      explanation:
        `switch core per packet: ${items(p.switchCore)}` +
        (other ? `; the path is limited by ${p.bottleneck.pcpu} (${p.bottleneck.domains.join(', ')}: ${Math.round(p.bottleneck.cyclesPerPacket)} cycles/packet, ${items(p.bottleneck)})` : '') +
        (dropped ? `; drops at saturation: ${dropped}` : ''),
    });
  }
  const byKey = new Map(points.map((p) => [`${p.sw}/${p.path}`, p]));
  const OTHER: Record<'bridge' | 'router', { who: string; primitive: string }> = {
    bridge: { who: 'the bridge', primitive: 'bridge_lookup' },
    router: { who: 'IP forwarding', primitive: 'ip_forward' },
  };
  for (const sw of ['bridge', 'router'] as const) {
    for (const path of EMMERICH_PATHS) {
      const o = byKey.get(`vswitch/${path}`);
      const b = byKey.get(`${sw}/${path}`);
      if (!o || !b || b.switchCoreMpps <= 0) continue;
      const pub = EMMERICH_PUBLISHED.vswitch[path] / EMMERICH_PUBLISHED[sw][path];
      const mod = o.switchCoreMpps / b.switchCoreMpps;
      // the like-for-like figure: what the other switch costs per packet beyond Open vSwitch, in cycles
      const pubExtra = (hz / 1e6) * (1 / EMMERICH_PUBLISHED[sw][path] - 1 / EMMERICH_PUBLISHED.vswitch[path]);
      const modExtra = b.switchCore.cyclesPerPacket - o.switchCore.cyclesPerPacket;
      const shared = `the rest of the path costs ${Math.round(o.switchCore.cyclesPerPacket)} cycles/packet here against ${Math.round((hz / 1e6) / EMMERICH_PUBLISHED.vswitch[path])} for Open vSwitch's whole path there (${items(o.switchCore)})`;
      const { who, primitive } = OTHER[sw];
      rows.push({
        experiment: `Emmerich 2014 Table I: Open vSwitch ÷ ${SWITCH_NAME[sw]}, ${PATH_LABEL[path]}`,
        setup: 'same path, same core, the two data planes',
        published: `×${pub.toFixed(2)} (${who} ${Math.round(pubExtra)} cycles/packet more)`,
        modelled: `×${mod.toFixed(2)} (${who} ${Math.round(modExtra)} cycles/packet more)`,
        ratio: mod / pub,
        explanation:
          path === 'p2p'
            ? `calibration, not prediction: ${primitive} − flow_lookup is this column's difference per packet, and it holds; the ratio is smaller because ${shared}`
            : `predicted: ${who} pays ${primitive} − flow_lookup on each of the path's passes through dom0; ${shared}`,
      });
    }
  }
  return rows;
}
