// What a sweep produced, as text tables, the "why" tables (cycles per packet by primitive
// operation, with each primitive's cost and its source) and the two plots.
import { fmtRate, table } from '../report.js';
import { CPU_GROUPS, GROUPS, perPrimitive, type PointFigures } from './compare_figures.js';
import { lineChartSvg, stackedBarSvg } from './svg.js';

export interface SkippedPoint { arch: string; guests?: number; reason: string }

/** One primitive's cost as the cost table has it (libs/cost DEFAULT_COSTS). */
export interface CostSource { cycles: number; unit: string; source: string; measuredOn?: string }

export interface CompareResult {
  setup: {
    archs: string[];
    guests: number[];
    nics: number;
    cpus: number;
    hz: number;
    proto: string;
    direction: string;
    bytesPerGuest: number;
    msgSize: number;
  };
  points: PointFigures[];
  skipped: SkippedPoint[];
  /** The cost of every primitive that appears in a breakdown, with its source. */
  costs: Record<string, CostSource>;
}

const cpuCell = (x: number) => x.toFixed(2);

export function summaryTable(points: PointFigures[]): string {
  return table(
    ['arch', 'guests', 'throughput', 'of wire', 'cpu dom0', 'cpu xen', 'cpu guests', 'cpu idle', 'cycles/pkt', 'lost pkts'],
    points.map((p) => [
      p.arch,
      p.guests,
      fmtRate(p.throughputBps),
      `${((p.throughputBps / p.wireBps) * 100).toFixed(1)}%`,
      cpuCell(p.cpu.dom0),
      cpuCell(p.cpu.xen),
      cpuCell(p.cpu.guests + p.cpu.other),
      cpuCell(p.cpu.idle),
      Math.round(p.cyclesPerPacket),
      p.lost,
    ]),
  );
}

/** The point of each architecture with the most guests: where the "why" is read. */
export function largestPerArch(points: PointFigures[]): PointFigures[] {
  const best = new Map<string, PointFigures>();
  for (const p of points) if (!best.has(p.arch) || best.get(p.arch)!.guests < p.guests) best.set(p.arch, p);
  return [...best.values()];
}

/**
 * Cycles per delivered packet, by primitive (rows) and architecture (columns), each column
 * at that architecture's largest guest count; rows largest first, then the per-group totals.
 */
export function explainTable(points: PointFigures[], opts: { minCycles?: number } = {}): string {
  const cols = largestPerArch(points);
  const per = cols.map((p) => perPrimitive(p.breakdown));
  const prims = [...new Set(per.flatMap((m) => [...m.keys()]))]
    .filter((k) => per.some((m) => (m.get(k) ?? 0) >= (opts.minCycles ?? 0.5)))
    .sort((a, b) => Math.max(...per.map((m) => m.get(b) ?? 0)) - Math.max(...per.map((m) => m.get(a) ?? 0)));
  const rows: Array<Array<string | number>> = prims.map((k) => [k, ...per.map((m) => Math.round(m.get(k) ?? 0))]);
  for (const g of GROUPS) if (cols.some((p) => p.cyclesPerPacketByGroup[g] > 0)) rows.push([`= ${g}`, ...cols.map((p) => Math.round(p.cyclesPerPacketByGroup[g]))]);
  rows.push(['= total', ...cols.map((p) => Math.round(p.cyclesPerPacket))]);
  return table(['cycles per packet', ...cols.map((p) => `${p.arch} (${p.guests})`)], rows);
}

/** One architecture's breakdown: where each primitive's cycles are charged, ops and cycles per packet. */
export function breakdownTable(p: PointFigures, opts: { minCycles?: number; costs?: Record<string, CostSource> } = {}): string {
  const rows = p.breakdown.filter((b) => b.cyclesPerPacket >= (opts.minCycles ?? 0.5));
  // The ledger counts a per-byte primitive's charges, not its bytes: its bytes are cycles ÷ cost per byte.
  const perPacket = (b: PointFigures['breakdown'][number]) => {
    const c = opts.costs?.[b.primitive];
    return c?.unit === 'byte' && c.cycles > 0 ? `${Math.round(b.cyclesPerPacket / c.cycles)} B` : b.opsPerPacket.toFixed(2);
  };
  return table(
    ['charged to', 'primitive', 'ops/pkt', 'cycles/pkt', 'share'],
    rows.map((b) => [b.group, b.primitive, perPacket(b), Math.round(b.cyclesPerPacket), `${((b.cyclesPerPacket / (p.cyclesPerPacket || 1)) * 100).toFixed(1)}%`]),
  );
}

export function sourcesTable(costs: Record<string, CostSource>, primitives?: string[]): string {
  const keys = primitives ?? Object.keys(costs);
  return keys
    .filter((k) => costs[k])
    .map((k) => `${k} — ${costs[k].cycles} cycles/${costs[k].unit}${costs[k].measuredOn ? ` (${costs[k].measuredOn})` : ''}\n    ${costs[k].source}`)
    .join('\n');
}

const cpusText = (n: number) => `${n} CPU${n === 1 ? '' : 's'}`;

export function throughputSvg(r: CompareResult): string {
  const archs = [...new Set(r.points.map((p) => p.arch))];
  const wire = r.points[0]?.wireBps;
  return lineChartSvg({
    title: `Aggregate ${r.setup.proto.toUpperCase()} throughput, guests ${r.setup.direction === 'tx' ? 'sending' : 'receiving'} (${r.setup.nics} × 1 Gb/s, ${cpusText(r.setup.cpus)})`,
    xLabel: 'guests',
    yLabel: 'throughput (bit/s, modelled)',
    series: archs.map((a) => ({ name: a, points: r.points.filter((p) => p.arch === a).map((p) => ({ x: p.guests, y: p.throughputBps })) })),
    ceiling: wire ? { y: wire, label: `wire ${fmtRate(wire)}` } : undefined,
  });
}

export function cpuSvg(r: CompareResult): string {
  return stackedBarSvg({
    title: `CPU of the system under test (${cpusText(r.setup.cpus)}) per architecture and guest count`,
    yLabel: 'CPUs',
    // a group no point spent anything on (e.g. "other") stays out of the legend
    segments: CPU_GROUPS.filter((g) => r.points.some((p) => p.cpu[g] > 0)),
    yMax: r.setup.cpus,
    bars: r.points.map((p) => ({ label: String(p.guests), group: p.arch, segments: { ...p.cpu } })),
  });
}
