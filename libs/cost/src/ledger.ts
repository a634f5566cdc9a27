import type { CostTable } from './cost_table.js';
import { CostError, checkNonNegative, isPrimitive, type Primitive } from './primitive.js';

/**
 * One line of a ledger. `ops` counts operations; for a per-byte primitive one charge is
 * one operation and its bytes are summed in `bytes`.
 */
export interface LedgerRow {
  pcpu: string;
  domain: string;
  primitive: Primitive;
  cycles: number;
  ops: number;
  bytes?: number;
}

/** Cycles, operation counts and bytes by (pcpu, domain, primitive). */
export class Ledger {
  /** Rows by pcpu, domain and primitive: nested maps, so that a charge builds no key string. */
  private readonly byPcpu = new Map<string, Map<string, Map<Primitive, LedgerRow>>>();

  constructor(readonly costs: CostTable) {}

  /** Charges n ops (or n bytes for a per-byte primitive) and returns their cycles. */
  charge(pcpu: string, domain: string, p: Primitive, n = 1): number {
    const cycles = this.costs.cycles(p, n);
    if (this.costs.entry(p).unit === 'byte') this.add(pcpu, domain, p, cycles, 1, n);
    else this.add(pcpu, domain, p, cycles, n, 0);
    return cycles;
  }

  /** Charges cycles computed elsewhere (e.g. returned by a hypercall). */
  chargeCycles(pcpu: string, domain: string, p: Primitive, cycles: number, ops = 1): void {
    if (!isPrimitive(p)) throw new CostError('unknown_primitive', `unknown primitive '${String(p)}'`);
    checkNonNegative(cycles, 'bad_cycles', `cycles for '${p}'`);
    checkNonNegative(ops, 'bad_count', `ops for '${p}'`);
    this.add(pcpu, domain, p, cycles, ops, 0);
  }

  /** All rows, sorted so that two equal ledgers give equal snapshots. */
  snapshot(): LedgerRow[] {
    return [...this.rows()]
      .map((r) => ({ ...r }))
      .sort((a, b) => cmp(a.pcpu, b.pcpu) || cmp(a.domain, b.domain) || cmp(a.primitive, b.primitive));
  }

  /** Adds another ledger's rows (e.g. from another service) to this one. */
  merge(rows: LedgerRow[]): void {
    // Validate all rows first so that a bad row leaves the ledger unchanged.
    for (const r of rows) {
      if (r === null || typeof r !== 'object' || typeof r.pcpu !== 'string' || typeof r.domain !== 'string') {
        throw new CostError('bad_row', `ledger row needs string pcpu and domain: ${JSON.stringify(r)}`);
      }
      if (!isPrimitive(r.primitive)) throw new CostError('unknown_primitive', `unknown primitive '${String(r.primitive)}' in ledger row`);
      checkNonNegative(r.cycles, 'bad_row', 'row cycles');
      checkNonNegative(r.ops, 'bad_row', 'row ops');
      if (r.bytes !== undefined) checkNonNegative(r.bytes, 'bad_row', 'row bytes');
    }
    for (const r of rows) this.add(r.pcpu, r.domain, r.primitive, r.cycles, r.ops, r.bytes ?? 0);
  }

  /** Total cycles of the rows that match the filter. */
  totalCycles(filter: { pcpu?: string; domain?: string; primitive?: Primitive } = {}): number {
    let sum = 0;
    for (const r of this.rows()) {
      if (filter.pcpu !== undefined && r.pcpu !== filter.pcpu) continue;
      if (filter.domain !== undefined && r.domain !== filter.domain) continue;
      if (filter.primitive !== undefined && r.primitive !== filter.primitive) continue;
      sum += r.cycles;
    }
    return sum;
  }

  private *rows(): Generator<LedgerRow> {
    for (const byDomain of this.byPcpu.values()) for (const byPrimitive of byDomain.values()) yield* byPrimitive.values();
  }

  private add(pcpu: string, domain: string, p: Primitive, cycles: number, ops: number, bytes: number): void {
    let byDomain = this.byPcpu.get(pcpu);
    if (!byDomain) this.byPcpu.set(pcpu, (byDomain = new Map()));
    let byPrimitive = byDomain.get(domain);
    if (!byPrimitive) byDomain.set(domain, (byPrimitive = new Map()));
    const row = byPrimitive.get(p);
    if (row) {
      row.cycles += cycles;
      row.ops += ops;
      if (bytes > 0 || row.bytes !== undefined) row.bytes = (row.bytes ?? 0) + bytes;
    } else {
      const fresh: LedgerRow = { pcpu, domain, primitive: p, cycles, ops };
      if (bytes > 0) fresh.bytes = bytes;
      byPrimitive.set(p, fresh);
    }
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
