// Live migration's memory copy (pre-copy, as Xen's xc_domain_save does it): send every page,
// then round after round the pages written since they were sent, until few are left or the
// rounds run out; then, with the domain suspended, the rest (stop-and-copy). Transport-free:
// the caller carries page batches to the target hypervisor and back-pressures with `send`.
import { createHash } from 'node:crypto';
import { PAGE_SIZE, type MachineMemory } from '@vnetlab/memory';
import { INVALID_MFN } from './constants.js';
import { HypervisorError } from './errors.js';
import type { Hypervisor } from './hypervisor.js';

/**
 * Bytes one page takes on the migration stream: its 4096 bytes and the 64-bit pfn entry of
 * the PAGE_DATA record that carries it (Xen's migration stream v2,
 * docs/specs/libxc-migration-stream.pandoc).
 */
export const MIGRATION_PAGE_WIRE_BYTES = PAGE_SIZE + 8;

/** One batch of a PAGE_DATA record: a page per gfn, or `undefined` for a gfn with no frame (Xen's XTAB). */
export interface PageBatch {
  gfns: number[];
  data: Array<Buffer | undefined>;
}

export type MigrationPhase = 'precopy' | 'stop_and_copy';

export interface RoundReport {
  round: number;           // 1-based; the stop-and-copy is the last round
  phase: MigrationPhase;
  pages: number;
  bytes: number;           // on the migration stream
  startNs: number;
  endNs: number;
  /** Pages written while this round was being sent (what the next round must send). */
  dirtiedDuring: number;
}

/** Why pre-copy ended. */
export type StopReason = 'converged' | 'round_limit' | 'sent_too_much';

export interface PreCopyOptions {
  /** The share of the link reserved for the migration stream, bits per second. */
  bandwidthBps: number;
  /** Modelled time the migration starts at. */
  startNs: number;
  /**
   * Pre-copy rounds at most (default 29: xc_domain_save's DEF_MAX_ITERS); the
   * stop-and-copy comes after them.
   */
  maxRounds?: number;
  /** Stop when no more than this many pages are dirty (default 50, as xc_domain_save). */
  stopThresholdPages?: number;
  /** Stop once this many times the domain's pages were sent in all (default 3: DEF_MAX_FACTOR). */
  maxFactor?: number;
  /** Pages per batch handed to `send` (default 256: 1 MiB of page data per message). */
  batchPages?: number;
}

/** Where the domain's pages are now: its p2m, read at every round (a page flip changes it). */
export type P2mSource = () => readonly number[];

/** sha256 over a domain's pages in gfn order; a gfn with no frame counts as a marker (as GuestMemory.hash). */
export function domainMemoryHash(mem: MachineMemory, p2m: readonly number[]): string {
  const h = createHash('sha256');
  p2m.forEach((mfn, gfn) => {
    if (mfn === INVALID_MFN) h.update(`invalid:${gfn};`);
    else h.update(mem.read(mfn, 0, PAGE_SIZE));
  });
  return h.digest('hex');
}

/**
 * The source side of a migration. The first round sends every page; each later round sends
 * the pages whose frame the machine's dirty log marked since they were sent, or whose frame
 * changed (a page flip). Marks are cleared before a page is read, so a write racing the read
 * is sent again next round. Each page costs MIGRATION_PAGE_WIRE_BYTES at the reserved
 * bandwidth in modelled time.
 */
export class PreCopy {
  readonly rounds: RoundReport[] = [];
  /** Modelled time the stream has reached. */
  now: number;
  private readonly sent: Int32Array;
  private readonly o: Required<PreCopyOptions>;
  private totalPages = 0;
  private stopped?: StopReason;
  private finished = false;
  /** Log-dirty mode is on: the first round has taken the pages. */
  private started = false;

  constructor(private readonly mem: MachineMemory, private readonly p2m: P2mSource, opts: PreCopyOptions) {
    if (!(opts.bandwidthBps > 0) || !Number.isFinite(opts.bandwidthBps)) throw new HypervisorError('bad_argument', `bandwidth ${opts.bandwidthBps} b/s is not a positive rate`);
    if (!Number.isFinite(opts.startNs) || opts.startNs < 0) throw new HypervisorError('bad_argument', `start time ${opts.startNs} ns`);
    this.o = { maxRounds: 29, stopThresholdPages: 50, maxFactor: 3, batchPages: 256, ...opts };
    if (!Number.isInteger(this.o.maxRounds) || this.o.maxRounds < 1) throw new HypervisorError('bad_argument', `max rounds ${this.o.maxRounds} must be an integer >= 1`);
    if (!Number.isInteger(this.o.batchPages) || this.o.batchPages < 1) throw new HypervisorError('bad_argument', `batch of ${this.o.batchPages} pages`);
    this.now = opts.startNs;
    this.sent = new Int32Array(p2m().length).fill(-2); // -2: never sent
  }

  /** Modelled nanoseconds one page takes on the stream. */
  get pageNs(): number {
    return (MIGRATION_PAGE_WIRE_BYTES * 8 * 1e9) / this.o.bandwidthBps;
  }

  get stopReason(): StopReason | undefined {
    return this.stopped;
  }

  /** The gfns the next round would send, without clearing any mark. */
  pendingCount(): number {
    const p2m = this.p2m();
    if (!this.started) return p2m.length;
    const moved = p2m.filter((mfn, gfn) => mfn !== this.sent[gfn]).length;
    return moved + this.mem.countDirty(p2m.filter((mfn, gfn) => mfn !== INVALID_MFN && mfn === this.sent[gfn]));
  }

  /** Takes the pages to send this round; clears their marks (before they are read). */
  private takePending(): number[] {
    const p2m = this.p2m();
    if (p2m.length !== this.sent.length) throw new HypervisorError('bad_argument', `the domain has ${p2m.length} pages, it had ${this.sent.length}`);
    const valid = p2m.filter((mfn) => mfn !== INVALID_MFN);
    if (!this.started) {
      this.started = true;
      // log-dirty on: forget marks from before, everything goes anyway
      this.mem.takeDirty(valid);
      return p2m.map((_, gfn) => gfn);
    }
    const dirty = new Set(this.mem.takeDirty(valid));
    const out: number[] = [];
    p2m.forEach((mfn, gfn) => {
      if (mfn !== this.sent[gfn] || dirty.has(mfn)) out.push(gfn);
    });
    return out;
  }

  private async sendRound(phase: MigrationPhase, send: (b: PageBatch) => Promise<void>): Promise<RoundReport> {
    const gfns = this.takePending();
    const startNs = this.now;
    for (let i = 0; i < gfns.length; i += this.o.batchPages) {
      const batch: PageBatch = { gfns: gfns.slice(i, i + this.o.batchPages), data: [] };
      // read through the p2m of this moment: a flip between batches is caught next round
      const p2m = this.p2m();
      for (const gfn of batch.gfns) {
        const mfn = p2m[gfn];
        batch.data.push(mfn === INVALID_MFN ? undefined : this.mem.read(mfn, 0, PAGE_SIZE));
        this.sent[gfn] = mfn;
      }
      await send(batch);
      this.now += batch.gfns.length * this.pageNs;
    }
    this.totalPages += gfns.length;
    const r: RoundReport = {
      round: this.rounds.length + 1, phase, pages: gfns.length, bytes: gfns.length * MIGRATION_PAGE_WIRE_BYTES,
      startNs, endNs: this.now, dirtiedDuring: phase === 'precopy' ? this.pendingCount() : 0,
    };
    this.rounds.push(r);
    return r;
  }

  /** One pre-copy round; says whether pre-copy should stop after it, and why. */
  async round(send: (b: PageBatch) => Promise<void>): Promise<{ report: RoundReport; stop?: StopReason }> {
    if (this.stopped || this.finished) throw new HypervisorError('bad_argument', 'pre-copy is over');
    const report = await this.sendRound('precopy', send);
    const pages = this.sent.length;
    if (report.dirtiedDuring <= this.o.stopThresholdPages) this.stopped = 'converged';
    else if (this.rounds.length >= this.o.maxRounds) this.stopped = 'round_limit';
    else if (this.totalPages >= this.o.maxFactor * pages) this.stopped = 'sent_too_much';
    return { report, ...(this.stopped ? { stop: this.stopped } : {}) };
  }

  /** Rounds until one of the stop conditions holds. */
  async precopy(send: (b: PageBatch) => Promise<void>, onRound?: (r: RoundReport) => void | Promise<void>): Promise<StopReason> {
    for (;;) {
      const { report, stop } = await this.round(send);
      await onRound?.(report);
      if (stop) return stop;
    }
  }

  /**
   * The last round, with the domain suspended (nothing writes its pages any more): the pages
   * still dirty. `suspendedNs` is when the domain stopped; the copy starts no earlier.
   */
  async stopAndCopy(send: (b: PageBatch) => Promise<void>, suspendedNs = this.now): Promise<RoundReport> {
    if (this.finished) throw new HypervisorError('bad_argument', 'the stop-and-copy is done');
    this.finished = true;
    this.now = Math.max(this.now, suspendedNs);
    return this.sendRound('stop_and_copy', send);
  }

  /** Pages sent in all rounds. */
  get pagesSent(): number {
    return this.totalPages;
  }
}

/** What the target needs to place a page: the domain's p2m and host-side page (de)allocation. */
export interface TargetDomain {
  /** A copy of the domain's p2m. */
  p2m(): number[];
  /** Gives the gfn a fresh frame (it had none); returns it. */
  populate(gfn: number): number;
  /** Takes the gfn's frame away (the source's page has none). */
  release(gfn: number): void;
}

/** A domain of `hv` as a migration target: frames come and go through the hypervisor's own memory operations. */
export function targetDomain(hv: Hypervisor, domid: number): TargetDomain {
  const p2m = () => {
    const d = hv.domain(domid);
    if (!d) throw new HypervisorError('bad_domain', `no domain ${domid}`);
    return d.p2m;
  };
  return {
    p2m,
    populate(gfn) {
      const r = hv.populatePhysmap(domid, gfn);
      if (r.status !== 0) throw new HypervisorError('out_of_memory', `no frame for gfn ${gfn} of domain ${domid} (status ${r.status})`);
      return r.mfn;
    },
    release(gfn) {
      const r = hv.decreaseReservation(domid, gfn);
      if (r.status !== 0) throw new HypervisorError('busy', `could not release gfn ${gfn} of domain ${domid} (status ${r.status})`);
    },
  };
}

/** The target side: places each page of a batch in the new domain's frames. */
export class PageReceiver {
  pages = 0;
  constructor(private readonly mem: MachineMemory, private readonly dom: TargetDomain) {}

  put(b: PageBatch): void {
    if (!Array.isArray(b.gfns) || !Array.isArray(b.data) || b.gfns.length !== b.data.length) {
      throw new HypervisorError('bad_argument', 'a page batch needs one data entry per gfn');
    }
    const p2m = this.dom.p2m();
    b.gfns.forEach((gfn, i) => {
      if (!Number.isInteger(gfn) || gfn < 0 || gfn >= p2m.length) throw new HypervisorError('bad_argument', `gfn ${gfn} outside the domain's ${p2m.length} pages`);
      const data = b.data[i];
      if (data !== undefined && data.length !== PAGE_SIZE) throw new HypervisorError('bad_argument', `gfn ${gfn}: ${data.length} bytes, a page is ${PAGE_SIZE}`);
    });
    // p2m is this batch's copy, kept up to date as frames come and go
    b.gfns.forEach((gfn, i) => {
      const data = b.data[i];
      if (data === undefined) {
        if (p2m[gfn] !== INVALID_MFN) this.dom.release(gfn);
        p2m[gfn] = INVALID_MFN;
      } else {
        if (p2m[gfn] === INVALID_MFN) p2m[gfn] = this.dom.populate(gfn);
        this.mem.write(p2m[gfn]!, 0, data);
      }
      this.pages++;
    });
  }
}
