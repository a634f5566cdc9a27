import { DEFAULT_COSTS, type CostEntry } from './default_costs.js';
import { CostError, checkNonNegative, isPrimitive, PRIMITIVES, type Primitive } from './primitive.js';

/** The costs in force for one lab: DEFAULT_COSTS with some cycles overridden. */
export class CostTable {
  private readonly entries: Record<Primitive, CostEntry>;

  constructor(overrides?: Partial<Record<Primitive, number>>) {
    const entries = {} as Record<Primitive, CostEntry>;
    for (const p of PRIMITIVES) entries[p] = { ...DEFAULT_COSTS[p] };
    for (const [p, cycles] of Object.entries(overrides ?? {})) {
      if (!isPrimitive(p)) throw new CostError('unknown_primitive', `unknown primitive '${p}' in cost overrides`);
      if (cycles === undefined) continue;
      checkNonNegative(cycles, 'bad_cycles', `override of '${p}'`);
      // An override keeps the unit but no longer carries the published source.
      entries[p] = { ...entries[p], cycles, source: `override (default ${DEFAULT_COSTS[p].cycles}: ${DEFAULT_COSTS[p].source})` };
    }
    this.entries = entries;
  }

  /** Cycles for n operations (unit 'op') or n bytes (unit 'byte'); n defaults to 1. */
  cycles(p: Primitive, n = 1): number {
    const e = this.entry(p);
    if (e.onDevice) throw new CostError('device_time', `'${p}' is time on a device, not CPU cycles: use deviceNs`);
    checkNonNegative(n, 'bad_count', `count for '${p}'`);
    return e.cycles * n;
  }

  /** Nanoseconds of device latency for n operations of a primitive that is time on a device. */
  deviceNs(p: Primitive, n = 1): number {
    const e = this.entry(p);
    if (!e.onDevice) throw new CostError('device_time', `'${p}' is CPU cycles, not time on a device: use cycles`);
    checkNonNegative(n, 'bad_count', `count for '${p}'`);
    return e.cycles * n;
  }

  entry(p: Primitive): CostEntry {
    if (!isPrimitive(p)) throw new CostError('unknown_primitive', `unknown primitive '${String(p)}'`);
    return this.entries[p];
  }
}
