// Figures from the ledgers: throughput, CPU per domain and per physical CPU, and tables.

export interface LedgerRowLike {
  host: string;
  pcpu: string;
  domain: string;
  primitive: string;
  cycles: number;
  ops: number;
}

export interface HostClock { name: string; hz: number; cpus: number }

const key = (r: LedgerRowLike) => `${r.host}|${r.pcpu}|${r.domain}|${r.primitive}`;

/**
 * after − before, row by row: ledgers are cumulative, a run's cost is the difference. A row
 * that went backwards belongs to a service restarted in between (its new process counts from
 * zero): its cost is what the new process counted, as Prometheus' increase() reads a reset.
 */
export function diffLedger(before: LedgerRowLike[], after: LedgerRowLike[]): LedgerRowLike[] {
  const base = new Map(before.map((r) => [key(r), r]));
  const out: LedgerRowLike[] = [];
  for (const r of after) {
    const b = base.get(key(r));
    const reset = b !== undefined && (r.cycles < b.cycles || r.ops < b.ops);
    const cycles = reset ? r.cycles : r.cycles - (b?.cycles ?? 0);
    const ops = reset ? r.ops : r.ops - (b?.ops ?? 0);
    if (cycles > 0 || ops > 0) out.push({ ...r, cycles, ops });
  }
  return out;
}

export interface CpuShare { host: string; pcpu: string; byDomain: Record<string, number>; busy: number; idle: number }
export interface DomainShare { host: string; domain: string; util: number; cycles: number }

export function cpuShares(rows: LedgerRowLike[], hosts: HostClock[], durationNs: number): { cpus: CpuShare[]; domains: DomainShare[] } {
  const cpus = new Map<string, CpuShare>();
  const domains = new Map<string, DomainShare>();
  const hz = new Map(hosts.map((h) => [h.name, h.hz]));
  for (const h of hosts)
    for (let i = 0; i < h.cpus; i++) cpus.set(`${h.name}|cpu${i}`, { host: h.name, pcpu: `cpu${i}`, byDomain: {}, busy: 0, idle: 1 });
  const secs = durationNs / 1e9;
  for (const r of rows) {
    const capacity = (hz.get(r.host) ?? 1) * secs;
    if (capacity <= 0) continue;
    const share = r.cycles / capacity;
    const c = cpus.get(`${r.host}|${r.pcpu}`) ?? { host: r.host, pcpu: r.pcpu, byDomain: {}, busy: 0, idle: 1 };
    c.byDomain[r.domain] = (c.byDomain[r.domain] ?? 0) + share;
    c.busy += share;
    c.idle = Math.max(0, 1 - c.busy);
    cpus.set(`${r.host}|${r.pcpu}`, c);
    const dk = `${r.host}|${r.domain}`;
    const d = domains.get(dk) ?? { host: r.host, domain: r.domain, util: 0, cycles: 0 };
    d.util += share;
    d.cycles += r.cycles;
    domains.set(dk, d);
  }
  return { cpus: [...cpus.values()], domains: [...domains.values()] };
}

/** A plain text table: columns sized to their widest cell, numbers right-aligned. */
export function table(headers: string[], rows: Array<Array<string | number>>): string {
  const cells = rows.map((r) => r.map((c) => (typeof c === 'number' ? fmtNum(c) : c)));
  const width = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[], numeric: boolean[]) =>
    r.map((c, i) => (numeric[i] ? c.padStart(width[i]) : c.padEnd(width[i]))).join('  ').trimEnd();
  const numeric = headers.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === 'number'));
  return [line(headers, numeric), width.map((w) => '-'.repeat(w)).join('  '), ...cells.map((r) => line(r, numeric))].join('\n');
}

export function fmtNum(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Number.isInteger(n)) return String(n);
  return Math.abs(n) >= 100 ? n.toFixed(0) : Math.abs(n) >= 1 ? n.toFixed(2) : n.toFixed(3);
}

export function fmtRate(bps: number): string {
  if (bps >= 1e9) return `${(bps / 1e9).toFixed(3)} Gb/s`;
  if (bps >= 1e6) return `${(bps / 1e6).toFixed(1)} Mb/s`;
  if (bps >= 1e3) return `${(bps / 1e3).toFixed(1)} kb/s`;
  return `${bps.toFixed(0)} b/s`;
}

export function fmtNs(ns: number): string {
  if (ns >= 1e9) return `${(ns / 1e9).toFixed(3)} s`;
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(3)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(1)} µs`;
  return `${ns.toFixed(0)} ns`;
}

export const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
