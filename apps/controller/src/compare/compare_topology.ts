// The lab a comparison point runs on: one system under test (SUT) with N guests of one I/O
// architecture sharing a few physical CPUs and NICs (as in Rixner's and Menon's set-ups), and
// a "traffic" host with one peer guest per NIC on CPUs fast enough never to be the bottleneck.
// Pure functions: a plan in, a topology file object (the file's own snake_case form) out.
import type { GuestArch } from '@vnetlab/topology';

export const SUT_HOST = 'sut';
export const TRAFFIC_HOST = 'traffic';

/** The architectures a guest interface may have (the topology schema's enum). */
export const ARCHS: readonly GuestArch[] = ['emulated', 'pv', 'multiqueue', 'cdna', 'passthrough', 'native'];

/**
 * A label in `--arch`: an architecture, `pv-flip` (pv receiving by page flip) or `pv-map`
 * (pv transmitting from the guest's pages mapped into dom0, Menon et al. 2006's baseline),
 * with pv's options appended: virtual offloads `+csum`, `+tso`, and `+noremap` (transmit
 * without remapping) — `pv+csum+tso+noremap`; `+super` (any Xen architecture) maps the
 * guests' and the driver domain's kernels with superpages. `dom0` makes the SUT's driver
 * domain itself the receiving endpoint (no guest; Menon's driver-domain receive). The label
 * names the series in tables and plots; the other fields are what the topology gets.
 */
export interface ArchSpec {
  label: string;
  arch: GuestArch;
  rxMode: 'copy' | 'flip';
  txMode?: 'copy' | 'map' | 'noremap';
  offload?: Offload;
  superpages?: boolean;
  /** The SUT's driver domain is the endpoint (its own address), not a guest. */
  endpoint?: 'dom0';
}

/** Transmit offloads, of a pv interface or of a NIC (the topology's `offload`). */
export interface Offload { csum: boolean; tso: boolean }
const OFFLOADS = ['csum', 'tso'] as const;
const PV_OPTIONS = [...OFFLOADS, 'noremap'] as const;
const OPTIONS = [...PV_OPTIONS, 'super'] as const;

export type Direction = 'tx' | 'rx';

export type CompareErrorReason = 'bad_arch' | 'bad_count' | 'needs_nic_per_guest' | 'too_many_guests';

/** A comparison that cannot be set up, with the reason (a typed error, never a crash). */
export class CompareError extends Error {
  constructor(readonly reason: CompareErrorReason, message: string) {
    super(message);
    this.name = 'CompareError';
  }
}

export function parseArchSpec(label: string): ArchSpec {
  const [head, ...all] = label.trim().split('+');
  let spec = parseBaseArch(head!);
  const unknown = all.filter((o) => !(OPTIONS as readonly string[]).includes(o));
  if (unknown.length) throw new CompareError('bad_arch', `"${label}": unknown option ${unknown.join(', ')} (one of ${OPTIONS.join(', ')})`);
  if (all.includes('super')) {
    if (spec.arch === 'native') throw new CompareError('bad_arch', `"${label}": a native host maps its kernel with superpages already`);
    if (spec.rxMode === 'flip') throw new CompareError('bad_arch', `"${label}": page flipping gives pages away one by one, which splits a superpage (Menon et al. 2006 receive by copy with them)`);
    spec = { ...spec, label: label.trim(), superpages: true };
  }
  const opts = all.filter((o) => o !== 'super');
  if (opts.length === 0) return spec;
  if (spec.arch !== 'pv' || spec.endpoint) throw new CompareError('bad_arch', `"${label}": options (+csum, +tso, +noremap) are pv's virtual-interface features, not ${spec.endpoint ?? spec.arch}'s`);
  const noremap = opts.includes('noremap');
  if (noremap && spec.txMode === 'map') throw new CompareError('bad_arch', `"${label}": pv-map maps the guest's pages into dom0; +noremap is the transmit path without that mapping — take one`);
  const offload = opts.some((o) => (OFFLOADS as readonly string[]).includes(o)) ? { offload: { csum: opts.includes('csum'), tso: opts.includes('tso') } } : {};
  return { ...spec, label: label.trim(), ...(noremap ? { txMode: 'noremap' as const } : {}), ...offload };
}

function parseBaseArch(l: string): ArchSpec {
  if (l === 'pv-flip') return { label: l, arch: 'pv', rxMode: 'flip' };
  if (l === 'pv-copy') return { label: l, arch: 'pv', rxMode: 'copy' };
  if (l === 'pv-map') return { label: l, arch: 'pv', rxMode: 'copy', txMode: 'map' };
  // the driver domain receiving itself: the peer's frames go NIC → dom0's driver → its stack
  if (l === 'dom0') return { label: l, arch: 'pv', rxMode: 'copy', endpoint: 'dom0' };
  if ((ARCHS as readonly string[]).includes(l)) return { label: l, arch: l as GuestArch, rxMode: 'copy' };
  throw new CompareError('bad_arch', `unknown architecture "${l}" (one of ${[...ARCHS, 'pv-flip', 'pv-map', 'dom0'].join(', ')}; pv with +csum/+tso/+noremap; +super on any but native)`);
}

export interface CompareSetup {
  arch: ArchSpec;
  guests: number;
  /** 1 Gb/s NICs on the SUT (and as many on the traffic host, one cable each). */
  nics: number;
  /** Physical CPUs of the SUT: dom0 on cpu0, guests spread over the others. */
  cpus: number;
  hz: number;
  /** Clock of the traffic host's CPUs: far above the SUT's so that it never limits. */
  trafficHz: number;
  /** Architecture of the traffic host's peers (multiqueue: no bridge, no copy in its dom0). */
  trafficArch: GuestArch;
  rateBps: number;
  /** What the SUT's NICs do on transmit (checksum insertion, TSO); default neither. */
  nicOffload?: Offload;
}

export const DEFAULT_SETUP: Omit<CompareSetup, 'arch' | 'guests'> = {
  nics: 1,
  cpus: 4,
  hz: 2.8e9,
  trafficHz: 28e9,
  trafficArch: 'multiqueue',
  rateBps: 1e9,
};

/** Guest and peer memory: enough for rings, buffers and the stack's pools. */
const GUEST_MIB = 16;
const DOM0_MIB = 64;
/** Queue sets per NIC at most (the topology schema's bound). */
const MAX_QUEUE_SETS = 64;
/** Guests get 10.0.0.1.., peers 10.0.250.1..: one L2 segment, no clash. */
export const MAX_GUESTS = 250;

export interface TopologyFileObject {
  name: string;
  hosts: Array<{
    name: string;
    cpus: { count: number; hz: number };
    memory_mib: number;
    driver_domain: { cpus: number[]; memory_mib: number; superpages?: boolean; ip?: string };
    nics: Array<{ name: string; rate_bps: number; queue_sets: number; offload?: Offload; sriov?: boolean }>;
    guests: Array<{ name: string; memory_mib: number; vcpus: number[]; superpages?: boolean; interfaces: Array<{ arch: GuestArch; ip: string; nic: string; rx_mode?: 'copy' | 'flip'; tx_mode?: 'copy' | 'map' | 'noremap'; offload?: Offload }> }>;
  }>;
  links: Array<{ a: string; b: string; rate_bps: number }>;
}

export interface TransferPair { src: string; dst: string; via?: string }

export interface ComparePlan {
  /** Topology name: cmp-<label>-<guests>. */
  name: string;
  topology: TopologyFileObject;
  /** The SUT's guests, in order (the "guests" group of the CPU breakdown). */
  sutGuests: string[];
  /** The traffic host's peers, one per NIC. */
  peers: string[];
  /** Bulk transfers to run at once: SUT guests send (tx) or receive (rx). */
  pairs: TransferPair[];
}

const checkCount = (v: number, what: string, min: number) => {
  if (!Number.isInteger(v) || v < min) throw new CompareError('bad_count', `${what} must be an integer >= ${min}, got ${v}`);
};

export const guestName = (i: number) => `vm${i + 1}`;
export const peerName = (k: number) => `peer${k + 1}`;
export const nicName = (k: number) => `eth${k}`;

/** The physical CPU of SUT guest i: round robin over cpu1..cpuN-1 (cpu0 is dom0's), so guests share cores. */
export function guestCpu(i: number, cpus: number): number {
  return cpus <= 1 ? 0 : 1 + (i % (cpus - 1));
}

/** The NIC of SUT guest i: round robin over the NICs (a private NIC each for passthrough/native). */
export function guestNic(i: number, nics: number): number {
  return i % nics;
}

export function comparePlan(setup: CompareSetup, direction: Direction): ComparePlan {
  const { arch, guests, nics, cpus } = setup;
  checkCount(guests, 'guests', 1);
  checkCount(nics, 'nics', 1);
  checkCount(cpus, 'cpus', 1);
  if (!(setup.hz > 0) || !(setup.trafficHz > 0) || !(setup.rateBps > 0)) throw new CompareError('bad_count', 'clock rates and line rate must be > 0');
  if (guests > MAX_GUESTS) throw new CompareError('too_many_guests', `at most ${MAX_GUESTS} guests, got ${guests}`);
  if (arch.endpoint === 'dom0' && (guests !== 1 || direction !== 'rx'))
    throw new CompareError('bad_arch', `${arch.label} is the driver domain receiving itself: one endpoint (--guests 1) and --direction rx`);
  // a native host is one OS on its own NIC; passthrough guests share NICs through SR-IOV virtual functions
  if (arch.arch === 'native' && guests > nics)
    throw new CompareError('needs_nic_per_guest', `${arch.label} gives each guest a NIC of its own: ${guests} guests need ${guests} NICs, and --nics is ${nics}`);
  const sriov = arch.arch === 'passthrough';
  // Queue set 0 is dom0's on every NIC; each multiqueue/cdna guest, passthrough virtual function (and each peer) needs one more.
  const perNic = Math.ceil(guests / nics);
  if (perNic + 1 > MAX_QUEUE_SETS)
    throw new CompareError('too_many_guests', `${guests} guests over ${nics} NICs need ${perNic + 1} queue sets per NIC; a NIC has at most ${MAX_QUEUE_SETS}`);

  const dom0 = arch.endpoint === 'dom0';
  // the driver domain as the endpoint takes the first guest's address
  const sutGuests = dom0 ? [`${SUT_HOST}/dom0`] : Array.from({ length: guests }, (_, i) => guestName(i));
  const superpages = arch.superpages ? { superpages: true } : {};
  const peers = Array.from({ length: nics }, (_, k) => peerName(k));
  const nicList = (queueSets: number, offload?: Offload, vfs = false) =>
    Array.from({ length: nics }, (_, k) => ({ name: nicName(k), rate_bps: setup.rateBps, queue_sets: queueSets, ...(offload ? { offload } : {}), ...(vfs ? { sriov: true } : {}) }));

  const sut = {
    name: SUT_HOST,
    cpus: { count: cpus, hz: setup.hz },
    memory_mib: DOM0_MIB + guests * GUEST_MIB + 64,
    driver_domain: { cpus: [0], memory_mib: DOM0_MIB, ...superpages, ...(dom0 ? { ip: '10.0.0.1' } : {}) },
    nics: nicList(Math.min(MAX_QUEUE_SETS, perNic + 1), setup.nicOffload, sriov),
    guests: (dom0 ? [] : sutGuests).map((name, i) => ({
      name,
      memory_mib: GUEST_MIB,
      vcpus: [guestCpu(i, cpus)],
      ...superpages,
      interfaces: [{
        arch: arch.arch, ip: `10.0.${Math.floor(i / 250)}.${(i % 250) + 1}`, nic: nicName(guestNic(i, nics)),
        ...(arch.arch === 'pv' ? { rx_mode: arch.rxMode } : {}), ...(arch.txMode ? { tx_mode: arch.txMode } : {}), ...(arch.offload ? { offload: arch.offload } : {}),
      }],
    })),
  };
  const traffic = {
    name: TRAFFIC_HOST,
    // dom0 on cpu0 and a CPU per peer: the traffic side never shares a core
    cpus: { count: nics + 1, hz: setup.trafficHz },
    memory_mib: DOM0_MIB + nics * GUEST_MIB + 64,
    driver_domain: { cpus: [0], memory_mib: DOM0_MIB },
    nics: nicList(2),
    guests: peers.map((name, k) => ({
      name,
      memory_mib: GUEST_MIB,
      vcpus: [k + 1],
      interfaces: [{ arch: setup.trafficArch, ip: `10.0.250.${k + 1}`, nic: nicName(k) }],
    })),
  };
  const links = Array.from({ length: nics }, (_, k) => ({ a: `${SUT_HOST}/${nicName(k)}`, b: `${TRAFFIC_HOST}/${nicName(k)}`, rate_bps: setup.rateBps }));
  const pairs = sutGuests.map((g, i) => {
    const peer = peers[guestNic(i, nics)];
    return direction === 'tx' ? { src: g, dst: peer } : { src: peer, dst: g };
  });
  // a topology name takes no '+': pv+csum+tso becomes pv_csum_tso
  const name = `cmp-${arch.label.replace(/\+/g, '_')}-${guests}`;
  return { name, topology: { name, hosts: [sut, traffic], links }, sutGuests, peers, pairs };
}

/** The plan's topology as file text (JSON is YAML), for `vnetlab up`. */
export function topologyText(plan: ComparePlan): string {
  return `# generated by vnetlab compare: ${plan.name}\n${JSON.stringify(plan.topology, null, 2)}\n`;
}
