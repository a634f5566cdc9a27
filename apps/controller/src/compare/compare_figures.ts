// The figures of one comparison point, from what the operator's Traffic call returned: the
// SUT's aggregate throughput, its CPU split into dom0 / xen / guests / idle, and the cycles per
// packet broken down by primitive operation (the "why" of the difference between architectures).

export interface LedgerRowLike { host: string; pcpu: string; domain: string; primitive: string; cycles: number; ops: number }
export interface CpuRowLike { host: string; pcpu: string; domain: string; util: number }
export interface FlowRowLike { flow: string; sentFrames: number; deliveredFrames: number; drops: Record<string, number>; inFlight: number }
export interface TransferLike { src: string; dst: string; flow: string; bytesSent: number; bytesDelivered: number; throughputBps: number }

/** What Operator.Traffic returns, as far as the figures need it. */
export interface TrafficLike {
  bytesSent: number;
  bytesDelivered: number;
  startNs: number;
  endNs: number;
  throughputBps: number;
  transfers: TransferLike[];
  ledger: LedgerRowLike[];
  flows: FlowRowLike[];
  cpus: CpuRowLike[];
}

/** Where a domain's cycles go in the breakdown. */
export type DomainGroup = 'dom0' | 'xen' | 'guests' | 'other';
export const GROUPS: readonly DomainGroup[] = ['dom0', 'xen', 'guests', 'other'];
/** The CPU breakdown adds idle to the groups. */
export type CpuGroup = DomainGroup | 'idle';
export const CPU_GROUPS: readonly CpuGroup[] = ['dom0', 'xen', 'guests', 'other', 'idle'];

export interface PrimitiveCost {
  group: DomainGroup;
  primitive: string;
  cycles: number;
  ops: number;
  cyclesPerPacket: number;
  opsPerPacket: number;
}

export interface PointFigures {
  arch: string;
  guests: number;
  throughputBps: number;
  /** Line rate of the SUT's NICs together: what the payload can never exceed. */
  wireBps: number;
  bytesSent: number;
  bytesDelivered: number;
  windowNs: number;
  /** Data frames delivered, all transfers. */
  packets: number;
  /** Data frames sent and not delivered (dropped, by any reason, or still in flight). */
  lost: number;
  drops: Record<string, number>;
  /** CPUs of the SUT spent per group over the window; they add up to the host's CPU count. */
  cpu: Record<CpuGroup, number>;
  cpuCount: number;
  /** Per physical CPU of the SUT: share of that CPU per group (each adds up to 1). */
  pcpus: Array<{ pcpu: string } & Record<CpuGroup, number>>;
  /** Every cycle the SUT spent, per delivered packet. */
  cyclesPerPacket: number;
  cyclesPerPacketByGroup: Record<DomainGroup, number>;
  /** The SUT's cycles per primitive operation and group, largest first. */
  breakdown: PrimitiveCost[];
}

export interface PointContext {
  arch: string;
  guests: number;
  sutHost: string;
  sutGuests: string[];
  cpuCount: number;
  wireBps: number;
}

export function domainGroup(domain: string, guests: ReadonlySet<string>): DomainGroup {
  if (domain === 'dom0' || domain === 'xen') return domain;
  return guests.has(domain) ? 'guests' : 'other';
}

const zeroGroups = (): Record<DomainGroup, number> => ({ dom0: 0, xen: 0, guests: 0, other: 0 });
const zeroCpu = (): Record<CpuGroup, number> => ({ dom0: 0, xen: 0, guests: 0, other: 0, idle: 0 });

/** Cycles per packet by (group, primitive) on one host, largest first. */
export function primitiveBreakdown(ledger: LedgerRowLike[], host: string, guests: ReadonlySet<string>, packets: number): PrimitiveCost[] {
  const by = new Map<string, PrimitiveCost>();
  for (const r of ledger) {
    if (r.host !== host) continue;
    const group = domainGroup(r.domain, guests);
    const k = `${group}|${r.primitive}`;
    const c = by.get(k) ?? { group, primitive: r.primitive, cycles: 0, ops: 0, cyclesPerPacket: 0, opsPerPacket: 0 };
    c.cycles += r.cycles;
    c.ops += r.ops;
    by.set(k, c);
  }
  const per = (x: number) => (packets > 0 ? x / packets : 0);
  return [...by.values()]
    .map((c) => ({ ...c, cyclesPerPacket: per(c.cycles), opsPerPacket: per(c.ops) }))
    .sort((a, b) => b.cycles - a.cycles || a.primitive.localeCompare(b.primitive));
}

/** Cycles per packet per primitive, all groups together. */
export function perPrimitive(breakdown: PrimitiveCost[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const c of breakdown) m.set(c.primitive, (m.get(c.primitive) ?? 0) + c.cyclesPerPacket);
  return m;
}

export function pointFigures(r: TrafficLike, ctx: PointContext): PointFigures {
  const guests = new Set(ctx.sutGuests);
  const names = new Set(r.transfers.map((t) => t.flow));
  const data = r.flows.filter((f) => names.has(f.flow));
  const packets = data.reduce((n, f) => n + f.deliveredFrames, 0);
  const lost = data.reduce((n, f) => n + Math.max(0, f.sentFrames - f.deliveredFrames), 0);
  const drops: Record<string, number> = {};
  for (const f of data) for (const [k, v] of Object.entries(f.drops)) drops[k] = (drops[k] ?? 0) + v;

  const cpu = zeroCpu();
  const pcpus = new Map<string, { pcpu: string } & Record<CpuGroup, number>>();
  for (const c of r.cpus) {
    if (c.host !== ctx.sutHost) continue;
    const g: CpuGroup = c.domain === 'idle' ? 'idle' : domainGroup(c.domain, guests);
    cpu[g] += c.util;
    const p = pcpus.get(c.pcpu) ?? { pcpu: c.pcpu, ...zeroCpu() };
    p[g] += c.util;
    pcpus.set(c.pcpu, p);
  }
  const breakdown = primitiveBreakdown(r.ledger, ctx.sutHost, guests, packets);
  const byGroup = zeroGroups();
  for (const b of breakdown) byGroup[b.group] += b.cyclesPerPacket;
  return {
    arch: ctx.arch,
    guests: ctx.guests,
    throughputBps: r.throughputBps,
    wireBps: ctx.wireBps,
    bytesSent: r.bytesSent,
    bytesDelivered: r.bytesDelivered,
    windowNs: Math.max(0, r.endNs - r.startNs),
    packets,
    lost,
    drops,
    cpu,
    cpuCount: ctx.cpuCount,
    pcpus: [...pcpus.values()].sort((a, b) => a.pcpu.localeCompare(b.pcpu, undefined, { numeric: true })),
    cyclesPerPacket: GROUPS.reduce((n, g) => n + byGroup[g], 0),
    cyclesPerPacketByGroup: byGroup,
    breakdown,
  };
}
