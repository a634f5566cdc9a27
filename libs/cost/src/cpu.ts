import { GapServer } from './gap_server.js';
import type { Ledger } from './ledger.js';
import { CostError, checkNonNegative, isPrimitive, type Primitive } from './primitive.js';
import { Tlb, XEN_2_SPACE, type AddressSpace } from './tlb.js';

/** The pseudo-domain for the hypervisor's share of a CPU: it never causes a domain switch. */
export const XEN_DOMAIN = 'xen';

export interface CpuRun {
  start: number;
  end: number;
  cycles: number;
  /** True when this run began with a domain switch to `domain`. */
  switched: boolean;
}

interface BusyInterval {
  start: number;
  end: number;
  domain: string;
}

/**
 * The state of a physical CPU that every domain placed on it shares: its timeline in
 * modelled time and the domain that ran last. Services of one host that share a process
 * share this object, so their work contends for the CPU as domains on one core do.
 */
export class PhysicalCore {
  readonly server = new GapServer();
  readonly tlb = new Tlb();
  /** How each domain placed here maps its kernel (a domain not named: Xen 2's 4 KB pages). */
  readonly spaces = new Map<string, AddressSpace>();
  lastDomain: string | undefined;
  constructor(readonly name: string) {}
}

/**
 * One physical CPU as one service sees it (its ledger), over a PhysicalCore: a server in modelled time (work runs in its idle gaps from its arrival
 * on, whatever the wall-clock order it arrived in) that charges what it runs to a ledger
 * under (cpu name, domain). A change of domain (other than into the hypervisor) costs one
 * domain_switch, charged to the incoming domain, so switch costs emerge from placement.
 */
export class Cpu {
  private readonly busy: BusyInterval[] = [];
  private readonly core: PhysicalCore;

  constructor(
    readonly name: string,
    readonly hz: number,
    readonly ledger: Ledger,
    core?: PhysicalCore,
  ) {
    this.core = core ?? new PhysicalCore(name);
    if (typeof hz !== 'number' || !Number.isFinite(hz) || hz <= 0) {
      throw new CostError('bad_hz', `cpu '${name}': hz must be a finite number > 0, got ${String(hz)}`);
    }
  }

  get busyUntil(): number {
    return this.core.server.busyUntil;
  }

  /** Declares how `domain` maps its kernel memory (superpages or 4 KB pages) on this CPU. */
  setAddressSpace(domain: string, space: AddressSpace): void {
    this.core.spaces.set(domain, space);
  }

  /** The domain that last ran here (never 'xen'), if any. */
  get currentDomain(): string | undefined {
    return this.core.lastDomain;
  }

  /**
   * Runs the charged primitives for `domain` no earlier than arrivalNs; returns the end time.
   * `foreign`: the bytes worked on lie in another domain's pages mapped in by grant (4 KB
   * mappings outside the domain's direct map, walked page by page even with superpages).
   */
  run(arrivalNs: number, domain: string, charges: Array<[Primitive, number?]>, opts: { foreign?: boolean } = {}): number {
    return this.runDetailed(arrivalNs, domain, charges, opts).end;
  }

  runDetailed(arrivalNs: number, domain: string, charges: Array<[Primitive, number?]>, opts: { foreign?: boolean } = {}): CpuRun {
    checkNonNegative(arrivalNs, 'bad_time', 'arrivalNs');
    // Price everything before charging anything, so a bad charge leaves the ledger untouched.
    for (const [p, n] of charges) this.ledger.costs.cycles(p, n ?? 1);
    if (charges.length === 0) return this.idleRun(arrivalNs);
    const switched = this.switchTo(domain);
    let cycles = switched ? this.ledger.charge(this.name, domain, 'domain_switch') : 0;
    let misses = 0;
    // the bytes of a batch of grant copies lie in as many buffers as there are copies
    const buffers = charges.find(([p]) => p === 'grant_copy_op')?.[1] ?? 1;
    for (const [p, n] of charges) {
      cycles += this.ledger.charge(this.name, domain, p, n ?? 1);
      misses += this.walks(domain, p, n ?? 1, buffers, opts.foreign === true);
    }
    if (misses > 0) cycles += this.ledger.charge(this.name, domain, 'tlb_miss', misses);
    return this.occupy(arrivalNs, domain, cycles, switched);
  }

  /** Runs cycles computed elsewhere (e.g. returned by a hypercall) for `domain`. */
  runCycles(arrivalNs: number, domain: string, primitive: Primitive, cycles: number, ops = 1): number {
    checkNonNegative(arrivalNs, 'bad_time', 'arrivalNs');
    checkNonNegative(cycles, 'bad_cycles', `cycles for '${primitive}'`);
    checkNonNegative(ops, 'bad_count', `ops for '${primitive}'`);
    if (!isPrimitive(primitive)) throw new CostError('unknown_primitive', `unknown primitive '${String(primitive)}'`);
    const switched = this.switchTo(domain);
    this.ledger.chargeCycles(this.name, domain, primitive, cycles, ops);
    let total = cycles;
    if (switched) total += this.ledger.charge(this.name, domain, 'domain_switch');
    const misses = this.walks(domain, primitive, ops);
    if (misses > 0) total += this.ledger.charge(this.name, domain, 'tlb_miss', misses);
    return this.occupy(arrivalNs, domain, total, switched).end;
  }

  /** Fraction of [fromNs, toNs) this CPU was busy (0..1), optionally for one domain only. */
  utilisation(fromNs: number, toNs: number, domain?: string): number {
    checkNonNegative(fromNs, 'bad_time', 'fromNs');
    checkNonNegative(toNs, 'bad_time', 'toNs');
    if (toNs <= fromNs) throw new CostError('bad_time', `utilisation window must have toNs > fromNs, got [${fromNs}, ${toNs})`);
    let busyNs = 0;
    for (const b of this.busy) {
      if (domain !== undefined && b.domain !== domain) continue;
      const s = Math.max(b.start, fromNs);
      const e = Math.min(b.end, toNs);
      if (e > s) busyNs += e - s;
    }
    return busyNs / (toNs - fromNs);
  }

  /** Busy time by domain in [fromNs, toNs), in ns; the rest of the window is idle. */
  busyByDomain(fromNs: number, toNs: number): Map<string, number> {
    const out = new Map<string, number>();
    for (const b of this.busy) {
      const s = Math.max(b.start, fromNs);
      const e = Math.min(b.end, toNs);
      if (e > s) out.set(b.domain, (out.get(b.domain) ?? 0) + (e - s));
    }
    return out;
  }

  /** Forgets busy intervals that end before tNs (bounded memory for long runs). */
  forgetBefore(tNs: number): void {
    let i = 0;
    while (i < this.busy.length && this.busy[i]!.end < tNs) i++;
    if (i > 0) this.busy.splice(0, i);
  }

  private switchTo(domain: string): boolean {
    if (typeof domain !== 'string' || domain === '') throw new CostError('bad_row', `cpu '${this.name}': domain must be a non-empty string`);
    if (domain === XEN_DOMAIN) return false;
    const switched = this.core.lastDomain !== undefined && this.core.lastDomain !== domain;
    this.core.lastDomain = domain;
    // the new domain's page tables (a CR3 load): its translations start cold
    if (switched) this.core.tlb.flush();
    return switched;
  }

  /** Page walks `n` of `p` cost `domain` on this CPU's data TLB. */
  private walks(domain: string, p: Primitive, n: number, buffers = 1, foreign = false): number {
    if (p === 'tlb_miss' || p === 'domain_switch') return 0;
    return this.core.tlb.run(domain, this.core.spaces.get(domain) ?? XEN_2_SPACE, p, n, domain === XEN_DOMAIN, buffers, foreign);
  }

  private occupy(arrivalNs: number, domain: string, cycles: number, switched: boolean): CpuRun {
    const { start, end, pieces } = this.core.server.serve(arrivalNs, (cycles / this.hz) * 1e9);
    for (const p of pieces) {
      const last = this.busy[this.busy.length - 1];
      // Back-to-back work of one domain is one interval: keeps the list short.
      if (last && last.domain === domain && last.end === p.s) last.end = p.e;
      else this.busy.push({ start: p.s, end: p.e, domain });
    }
    if (this.busy.length > 20_000) this.busy.splice(0, 10_000);
    return { start, end, cycles, switched };
  }

  private idleRun(arrivalNs: number): CpuRun {
    return { start: arrivalNs, end: arrivalNs, cycles: 0, switched: false };
  }
}
