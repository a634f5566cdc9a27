// The sweep: for each (architecture, guest count) generate the lab, bring it up, run every
// guest's bulk transfer at once, take the figures, bring it down, move on. An architecture the
// lab refuses to start is skipped and reported, and the sweep goes on with the next one.
import { DEFAULT_COSTS } from '@vnetlab/cost';
import { TopologyError, parseTopology } from '@vnetlab/topology';
import { CompareError, SUT_HOST, comparePlan, parseArchSpec, topologyText, type ArchSpec, type CompareSetup, type Direction, type TransferPair } from './compare_topology.js';
import { pointFigures, type TrafficLike } from './compare_figures.js';
import type { CompareResult, CostSource, SkippedPoint } from './compare_report.js';

/** How the sweep reaches a lab: the CLI's up/down and the operator's Traffic call. */
export interface LabDriver {
  /** Brings up the lab of `topologyText`; resolves to an error text when the lab refuses to start. */
  up(name: string, topologyText: string): Promise<{ ok: true } | { ok: false; error: string }>;
  traffic(req: { pairs: TransferPair[]; proto: string; bytes: number; msgSize: number }): Promise<TrafficLike>;
  down(): Promise<void>;
}

export interface SweepOptions {
  archs: string[];
  guests: number[];
  nics: number;
  cpus: number;
  hz: number;
  proto: 'udp' | 'tcp';
  direction: Direction;
  bytesPerGuest: number;
  msgSize: number;
  trafficHz?: number;
  /** What the SUT's NICs do on transmit (checksum insertion, TSO); default neither. */
  nicOffload?: { csum: boolean; tso: boolean };
}

export function checkSweepOptions(o: SweepOptions): ArchSpec[] {
  if (o.archs.length === 0) throw new CompareError('bad_arch', '--arch needs at least one architecture');
  if (o.guests.length === 0) throw new CompareError('bad_count', '--guests needs at least one count');
  for (const g of o.guests) if (!Number.isInteger(g) || g < 1) throw new CompareError('bad_count', `--guests: ${g} is not a guest count (an integer >= 1)`);
  if (!Number.isInteger(o.bytesPerGuest) || o.bytesPerGuest < 1) throw new CompareError('bad_count', `--bytes-per-guest must be an integer >= 1, got ${o.bytesPerGuest}`);
  if (!Number.isInteger(o.msgSize) || o.msgSize < 1 || o.msgSize > 1472) throw new CompareError('bad_count', `--msg-size must be 1..1472 (one datagram per frame), got ${o.msgSize}`);
  return o.archs.map(parseArchSpec);
}

/** Every primitive's cost and source, for the "why" tables. */
export function costSources(): Record<string, CostSource> {
  return Object.fromEntries(Object.entries(DEFAULT_COSTS).map(([k, c]) => [k, { cycles: c.cycles, unit: c.unit, source: c.source, measuredOn: c.measuredOn }]));
}

export async function runSweep(o: SweepOptions, lab: LabDriver, progress: (line: string) => void = () => undefined): Promise<CompareResult> {
  const specs = checkSweepOptions(o);
  const guests = [...new Set(o.guests)].sort((a, b) => a - b);
  const points: CompareResult['points'] = [];
  const skipped: SkippedPoint[] = [];
  const total = specs.length * guests.length;
  let done = 0;
  for (const spec of specs) {
    for (let gi = 0; gi < guests.length; gi++) {
      const g = guests[gi];
      const tag = `[${++done}/${total}] ${spec.label} × ${g} guest${g === 1 ? '' : 's'}`;
      const setup: CompareSetup = { arch: spec, guests: g, nics: o.nics, cpus: o.cpus, hz: o.hz, trafficHz: o.trafficHz ?? o.hz * 10, trafficArch: 'multiqueue', rateBps: 1e9, ...(o.nicOffload ? { nicOffload: o.nicOffload } : {}) };
      let plan;
      try {
        plan = comparePlan(setup, o.direction);
        parseTopology(topologyText(plan), `${plan.name}.yaml`);
      } catch (e) {
        if (!(e instanceof CompareError) && !(e instanceof TopologyError)) throw e;
        skipped.push({ arch: spec.label, guests: g, reason: e.message });
        progress(`${tag}: skipped — ${e.message}`);
        continue;
      }
      const t0 = Date.now();
      const up = await lab.up(plan.name, topologyText(plan));
      if (!up.ok) {
        // the lab refuses this architecture: the larger counts would be refused the same way
        const rest = guests.slice(gi);
        skipped.push({ arch: spec.label, reason: `the lab refused to start it: ${up.error}` });
        progress(`${tag}: skipped ${spec.label} (${rest.join(', ')} guests) — the lab refused to start it: ${up.error}`);
        done += rest.length - 1;
        break;
      }
      try {
        const r = await lab.traffic({ pairs: plan.pairs, proto: o.proto, bytes: o.bytesPerGuest, msgSize: o.msgSize });
        const p = pointFigures(r, { arch: spec.label, guests: g, sutHost: SUT_HOST, sutGuests: plan.sutGuests, cpuCount: o.cpus, wireBps: o.nics * setup.rateBps });
        points.push(p);
        progress(`${tag}: ${(p.throughputBps / 1e6).toFixed(1)} Mb/s, idle ${p.cpu.idle.toFixed(2)} of ${o.cpus} CPUs, ${Math.round(p.cyclesPerPacket)} cycles/packet${p.lost ? `, ${p.lost} packets lost` : ''} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      } catch (e) {
        skipped.push({ arch: spec.label, guests: g, reason: `traffic failed: ${(e as Error).message}` });
        progress(`${tag}: failed — ${(e as Error).message}`);
      } finally {
        await lab.down();
      }
    }
  }
  const used = new Set(points.flatMap((p) => p.breakdown.map((b) => b.primitive)));
  const all = costSources();
  return {
    setup: { archs: specs.map((s) => s.label), guests, nics: o.nics, cpus: o.cpus, hz: o.hz, proto: o.proto, direction: o.direction, bytesPerGuest: o.bytesPerGuest, msgSize: o.msgSize },
    points,
    skipped,
    costs: Object.fromEntries([...used].filter((k) => all[k]).map((k) => [k, all[k]])),
  };
}
