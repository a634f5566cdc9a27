import type { MachineMemory } from '@vnetlab/memory';
import { PAGE_SIZE } from '@vnetlab/memory';
import type { CostTable } from '@vnetlab/cost';
import { charges, price } from './charges.js';
import {
  DOMID_FIRST_RESERVED, DOMID_SELF, DOMID_XEN, EVTCHN_EINVAL, EVTCHN_ENOSPC, EVTCHN_EPERM, EVTCHN_ESRCH, EVTCHN_OK,
  FRAME_FREE, GNTST_bad_copy_arg, GNTST_bad_domain, GNTST_bad_gntref, GNTST_bad_handle, GNTST_bad_page,
  GNTST_general_error, GNTST_okay, GNTST_permission_denied, GRANT_FRAMES_PER_DOMAIN, GTF_accept_transfer,
  GTF_permit_access, GTF_readonly, GTF_reading, GTF_transfer_completed, GTF_type_mask, GTF_writing, INVALID_MFN,
  XEN_EINVAL, XEN_ESRCH,
} from './constants.js';
import { HypervisorError } from './errors.js';
import { Cdna, type CdnaBuffer, type CdnaCompleteResult, type CdnaEnqueueResult, type CdnaQueueSetInfo, type CdnaRing } from './cdna.js';
import type { HypervisorCore } from './hypervisor_core.js';
import { Iommu, type IommuPerms } from './iommu.js';
import { PortTable } from './event_channel.js';
import { NotificationLimit } from './notification_limit.js';
import { FrameTable } from './frame_table.js';
import { readEntry, validGref, writeFlags, writeFrame } from './grant_entry.js';
import { ViolationLog, type Violation, type ViolationKind } from './violations.js';

export interface DomainInfo { domid: number; name: string; p2m: number[]; grantFrames: number[] }
/** One side of a grant copy: a grant reference of `domid`, or a gfn of the caller itself. */
export interface GrantPtr { gref?: number; gfn?: number; domid: number; offset: number }
export interface GrantCopyOp { source: GrantPtr; dest: GrantPtr; len: number }
export interface HypercallResult { status: number; cycles: number }

export interface HypervisorOptions {
  mem: MachineMemory;
  costs: CostTable;
  /** Ownership and permission checks (default on). Off only to show what they prevent. */
  protection?: boolean;
  /** How many refused operations `violations` keeps (default 1000; counts keep totals). */
  maxViolations?: number;
}

interface Mapping { granter: number; gref: number; mfn: number; readonly: boolean; device: boolean }
interface ActiveGrant { reading: number; writing: number }

interface Domain {
  domid: number;
  name: string;
  p2m: number[];
  grantFrames: number[];
  ports: PortTable;
  /** This domain's mappings of other domains' grants, by handle (Xen's maptrack). */
  maptrack: Map<number, Mapping>;
  /** Kernels that announced their boot with a soft reset (softReset). */
  boots: number;
  nextHandle: number;
  /** Mappings others hold of this domain's grant entries, by gref (Xen's active grant table). */
  active: Map<number, ActiveGrant>;
  /** Frames flipped to this domain that it has not yet placed in its p2m. */
  received: Set<number>;
  /** Physical interrupts this domain may bind besides dom0's blanket right. */
  permittedIrqs: Set<number>;
}

/** `blame`: the domain at fault when it is not the caller (a granter that granted a frame it does not own). */
type Refusal = { status: number; kind: ViolationKind; detail: string; blame?: number };
type Resolved = { mfn: number } | Refusal;

const ZERO_PAGE = Buffer.alloc(PAGE_SIZE);

function isInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v);
}

/**
 * One host's hypervisor: domains, the frame table, grant tables (in machine memory),
 * event channels and physical-interrupt routing. Pure logic: the service around it turns
 * hypercall messages into these calls and delivers the notifications they return.
 *
 * Guest-supplied bad input never throws: it gets a status and is recorded in
 * `violations`. Host misuse (wiring bugs) throws HypervisorError.
 */
export class Hypervisor {
  readonly mem: MachineMemory;
  readonly costs: CostTable;
  readonly frameTable: FrameTable;
  /** I/O page tables of devices and queue sets (passthrough, CDNA with an IOMMU). */
  readonly iommu: Iommu;
  private readonly cdna: Cdna;
  private protectionOn: boolean;
  private readonly log: ViolationLog;
  private readonly domains = new Map<number, Domain>();
  private nextDomid = 0;
  private readonly pirqRoutes = new Map<number, { domid: number; port: number }>();
  /** Bounds a notification storm (protection on): see notification_limit.ts. */
  private readonly notifyLimit = new NotificationLimit();

  constructor(opts: HypervisorOptions) {
    this.mem = opts.mem;
    this.costs = opts.costs;
    this.protectionOn = opts.protection ?? true;
    this.frameTable = new FrameTable(opts.mem.frames);
    this.log = new ViolationLog(opts.maxViolations ?? 1000);
    const core: HypervisorCore = {
      mem: this.mem, costs: this.costs, frameTable: this.frameTable,
      protection: () => this.protectionOn,
      refuse: (domid, status, kind, detail) => this.refuse(domid, { status, kind, detail }),
      p2m: (domid) => this.domains.get(domid)?.p2m,
    };
    this.iommu = new Iommu(core);
    this.cdna = new Cdna(core);
  }

  get protection(): boolean {
    return this.protectionOn;
  }

  setProtection(on: boolean): void {
    this.protectionOn = on;
  }

  /** Refused operations, oldest first (bounded; see violationCounts for totals). */
  get violations(): readonly Violation[] {
    return this.log.entries;
  }

  get violationCounts(): ReadonlyMap<ViolationKind, number> {
    return this.log.counts;
  }

  /** Every refusal so far (`violations` keeps only the latest). */
  get violationTotal(): number {
    return this.log.total;
  }

  private refuse(domid: number, r: Refusal): number {
    this.log.record(r.kind, r.blame ?? domid, r.detail);
    return r.status;
  }

  // ---------------------------------------------------------------- domains

  /** Builds a domain with `pages` zeroed frames and its grant-table frames. dom0 comes first. */
  createDomain(name: string, pages: number): DomainInfo {
    if (!isInt(pages) || pages < 0) throw new HypervisorError('bad_argument', `pages ${pages} is not a non-negative integer`);
    // the toolstack names every domain, uniquely on its host (GetDomain looks them up by name)
    if (typeof name !== 'string' || name.length === 0) throw new HypervisorError('bad_argument', 'a domain needs a name');
    if ([...this.domains.values()].some((d) => d.name === name)) throw new HypervisorError('bad_argument', `a domain named '${name}' already exists`);
    if (pages === 0) throw new HypervisorError('bad_argument', `domain '${name}' needs at least one page of memory`);
    if (this.nextDomid >= DOMID_FIRST_RESERVED) throw new HypervisorError('bad_domain', 'no domain ids left');
    const need = pages + GRANT_FRAMES_PER_DOMAIN;
    if (need > this.frameTable.freeFrames) {
      throw new HypervisorError('out_of_memory', `out of memory: domain '${name}' needs ${need} frames, ${this.frameTable.freeFrames} free`);
    }
    const domid = this.nextDomid++;
    const p2m = this.frameTable.allocate(domid, pages);
    // The grant table belongs to Xen; the guest may write it (v1 grant tables).
    const grantFrames = this.frameTable.allocate(DOMID_XEN, GRANT_FRAMES_PER_DOMAIN);
    for (const mfn of [...p2m, ...grantFrames]) this.scrub(mfn);
    this.domains.set(domid, {
      domid, name, p2m, grantFrames,
      ports: new PortTable(),
      maptrack: new Map(), nextHandle: 0, active: new Map(), received: new Set(), permittedIrqs: new Set(), boots: 0,
    });
    return this.domain(domid)!;
  }

  /** Whether `domid` is a domain of this host (cheap: no snapshot). */
  hasDomain(domid: number): boolean {
    return this.domains.has(domid);
  }

  /** A snapshot of the domain (changing it changes nothing in the hypervisor). */
  domain(domid: number): DomainInfo | undefined {
    const d = this.domains.get(domid);
    if (!d) return undefined;
    return { domid: d.domid, name: d.name, p2m: d.p2m.slice(), grantFrames: d.grantFrames.slice() };
  }

  domainIds(): number[] {
    return [...this.domains.keys()];
  }

  /**
   * Tears a domain down: drops its mappings, closes its ports, frees its frames. Refused
   * (throws 'busy') while another domain maps its grants or its frames have I/O in flight.
   */
  destroyDomain(domid: number): void {
    const d = this.domains.get(domid);
    if (!d) throw new HypervisorError('bad_domain', `no domain ${domid}`);
    if (d.active.size > 0) throw new HypervisorError('busy', `domain ${domid} has grants mapped by other domains`);
    const own = this.frameTable.ownedBy(domid);
    // References the domain holds on its own frames (self-mappings) go away with it.
    const selfRefs = new Map<number, number>();
    for (const m of d.maptrack.values()) selfRefs.set(m.mfn, (selfRefs.get(m.mfn) ?? 0) + 1);
    for (const mfn of own) {
      if (this.frameTable.ioRefs(mfn) > (selfRefs.get(mfn) ?? 0)) {
        throw new HypervisorError('busy', `domain ${domid}: mfn ${mfn} has I/O in flight`);
      }
    }
    // Its devices and queue sets go with it (the host has detached them from the NIC).
    this.iommu.destroyDomainContexts(domid);
    this.cdna.detachDomain(domid);
    for (const mfn of own) this.iommu.frameReleased(mfn);
    for (const handle of [...d.maptrack.keys()]) this.grantUnmap(domid, handle);
    for (const [port] of d.ports.bound()) this.evtchnClose(domid, port);
    for (const mfn of own) this.frameTable.free(mfn);
    for (const mfn of d.grantFrames) this.frameTable.free(mfn);
    this.domains.delete(domid);
  }

  private resolveDomid(caller: number, domid: number): number {
    return domid === DOMID_SELF ? caller : domid;
  }

  /** Zeroes a frame before it changes hands, unless it already is (keeps a sparse file sparse). */
  private scrub(mfn: number): void {
    if (!this.mem.read(mfn, 0, PAGE_SIZE).equals(ZERO_PAGE)) this.mem.write(mfn, 0, ZERO_PAGE);
  }

  /** gfn → mfn through `d`'s p2m, or a bad_page refusal. */
  private translate(d: Domain, gfn: unknown): Resolved {
    if (!isInt(gfn) || gfn < 0 || gfn >= d.p2m.length) {
      return { status: GNTST_bad_page, kind: 'bad_page', detail: `gfn ${String(gfn)} outside dom${d.domid}'s ${d.p2m.length} pages` };
    }
    const mfn = d.p2m[gfn];
    if (mfn === INVALID_MFN) return { status: GNTST_bad_page, kind: 'bad_page', detail: `dom${d.domid} gfn ${gfn} has no frame` };
    if (this.protectionOn && this.frameTable.owner(mfn) !== d.domid) {
      return { status: GNTST_bad_page, kind: 'grant_foreign_page', detail: `dom${d.domid} gfn ${gfn} is mfn ${mfn}, owned by ${this.frameTable.owner(mfn)}`, blame: d.domid };
    }
    return { mfn };
  }

  // ------------------------------------------------------------- grant table

  /**
   * Validates one side of a copy or map against the grant table in machine memory and
   * returns the machine frame. `write`: the caller wants to write the page.
   */
  private resolveGrant(caller: Domain, granterId: number, gref: unknown, write: boolean): Resolved {
    const granter = this.domains.get(granterId);
    if (!granter) return { status: GNTST_bad_domain, kind: 'bad_domain', detail: `no domain ${granterId}` };
    if (!validGref(granter.grantFrames, gref)) {
      return { status: GNTST_bad_gntref, kind: 'bad_gref', detail: `gref ${String(gref)} outside dom${granterId}'s grant table` };
    }
    // One read of the entry; every check below looks at this copy.
    const e = readEntry(this.mem, granter.grantFrames, gref);
    if (this.protectionOn) {
      if (!(e.flags & GTF_permit_access) || e.domid !== caller.domid) {
        return {
          status: GNTST_permission_denied, kind: 'grant_not_granted',
          detail: `dom${granterId} gref ${gref} is not granted to dom${caller.domid} (flags ${e.flags}, domid ${e.domid})`,
        };
      }
      if (write && e.flags & GTF_readonly) {
        return { status: GNTST_permission_denied, kind: 'grant_readonly_write', detail: `dom${granterId} gref ${gref} is read-only` };
      }
    }
    return this.translate(granter, e.frame);
  }

  private resolveCopySide(caller: Domain, ptr: GrantPtr, len: number, write: boolean): Resolved {
    const bad = (detail: string): Refusal => ({ status: GNTST_bad_copy_arg, kind: 'bad_copy_arg', detail });
    if (typeof ptr !== 'object' || ptr === null) return bad('missing copy side');
    const byGref = ptr.gref !== undefined && ptr.gref !== null;
    const byGfn = ptr.gfn !== undefined && ptr.gfn !== null;
    if (byGref === byGfn) return bad('a copy side names exactly one of gref and gfn');
    if (!isInt(ptr.offset) || ptr.offset < 0 || ptr.offset + len > PAGE_SIZE) {
      return bad(`offset ${String(ptr.offset)} + len ${len} outside a ${PAGE_SIZE}-byte page`);
    }
    if (!isInt(ptr.domid)) return { status: GNTST_bad_domain, kind: 'bad_domain', detail: `domid ${String(ptr.domid)}` };
    const domid = this.resolveDomid(caller.domid, ptr.domid);
    if (byGref) return this.resolveGrant(caller, domid, ptr.gref, write);
    // Copy by frame number is only for the caller's own pages (as Xen allows for DOMID_SELF).
    if (domid !== caller.domid && this.protectionOn) {
      return { status: GNTST_permission_denied, kind: 'grant_foreign_page', detail: `dom${caller.domid} named gfn ${String(ptr.gfn)} of dom${domid}` };
    }
    const owner = this.domains.get(domid);
    if (!owner) return { status: GNTST_bad_domain, kind: 'bad_domain', detail: `no domain ${domid}` };
    return this.translate(owner, ptr.gfn);
  }

  private copyOne(caller: Domain, op: GrantCopyOp): number {
    if (typeof op !== 'object' || op === null) {
      return this.refuse(caller.domid, { status: GNTST_bad_copy_arg, kind: 'bad_copy_arg', detail: 'missing copy op' });
    }
    const len = op.len;
    if (!isInt(len) || len <= 0 || len > PAGE_SIZE) {
      return this.refuse(caller.domid, { status: GNTST_bad_copy_arg, kind: 'bad_copy_arg', detail: `len ${String(len)}` });
    }
    const src = this.resolveCopySide(caller, op.source, len, false);
    if (!('mfn' in src)) return this.refuse(caller.domid, src);
    const dst = this.resolveCopySide(caller, op.dest, len, true);
    if (!('mfn' in dst)) return this.refuse(caller.domid, dst);
    this.mem.copy(src.mfn, op.source.offset, dst.mfn, op.dest.offset, len);
    return GNTST_okay;
  }

  /**
   * GNTTABOP_copy: each op is validated and done on its own, with its own status. The
   * hypercall entry cost is carried by the first result, so the results' cycles add up to
   * what the whole call cost the caller's CPU.
   */
  grantCopy(caller: number, ops: GrantCopyOp[]): HypercallResult[] {
    if (!Array.isArray(ops)) return [];
    const d = this.domains.get(caller);
    return ops.map((op, i) => {
      let cycles = this.costs.cycles('grant_copy_op') + (i === 0 ? this.costs.cycles('hypercall') : 0);
      if (!d) return { status: this.refuse(caller, { status: GNTST_bad_domain, kind: 'bad_domain', detail: `no calling domain ${caller}` }), cycles };
      const status = this.copyOne(d, op);
      if (status === GNTST_okay) cycles += this.costs.cycles('copy_byte', op.len);
      return { status, cycles };
    });
  }

  /**
   * GNTTABOP_map_grant_ref: the caller (a backend) maps `granter`'s page. While mapped the
   * frame holds an I/O reference and the entry carries GTF_reading/GTF_writing, so the
   * granter's endAccess fails and the page cannot be flipped away.
   */
  grantMap(caller: number, granter: number, gref: number, readonly: boolean, deviceOnly = false): { status: number; mfn: number; handle: number; cycles: number } {
    // device only (GNTMAP_device_map without GNTMAP_host_map): the same checks and pin, the
    // frame's bus address for DMA, no page-table entry in the caller
    const device = deviceOnly === true;
    const cycles = price(this.costs, device ? charges.grantMapDevice() : charges.grantMap());
    const fail = (r: Refusal) => ({ status: this.refuse(caller, r), mfn: INVALID_MFN, handle: -1, cycles });
    const d = this.domains.get(caller);
    if (!d) return fail({ status: GNTST_bad_domain, kind: 'bad_domain', detail: `no calling domain ${caller}` });
    if (!isInt(granter)) return fail({ status: GNTST_bad_domain, kind: 'bad_domain', detail: `domid ${String(granter)}` });
    const granterId = this.resolveDomid(caller, granter);
    const ro = readonly === true;
    const r = this.resolveGrant(d, granterId, gref, !ro);
    if (!('mfn' in r)) return fail(r);
    const g = this.domains.get(granterId)!;
    this.frameTable.getRef(r.mfn);
    const act = g.active.get(gref) ?? { reading: 0, writing: 0 };
    act.reading++;
    if (!ro) act.writing++;
    g.active.set(gref, act);
    this.syncInUseFlags(g, gref);
    const handle = d.nextHandle++;
    d.maptrack.set(handle, { granter: granterId, gref, mfn: r.mfn, readonly: ro, device });
    return { status: GNTST_okay, mfn: r.mfn, handle, cycles };
  }

  /** GNTTABOP_unmap_grant_ref. */
  grantUnmap(caller: number, handle: number): HypercallResult & { device?: boolean } {
    const hostCycles = price(this.costs, charges.grantUnmap());
    const d = this.domains.get(caller);
    if (!d) return { status: this.refuse(caller, { status: GNTST_bad_domain, kind: 'bad_domain', detail: `no calling domain ${caller}` }), cycles: hostCycles };
    const m = d.maptrack.get(handle);
    if (!m) return { status: this.refuse(caller, { status: GNTST_bad_handle, kind: 'bad_handle', detail: `no mapping with handle ${String(handle)}` }), cycles: hostCycles };
    // a device-only mapping has no PTE to clear and no TLB to flush
    const cycles = m.device ? price(this.costs, charges.grantUnmapDevice()) : hostCycles;
    d.maptrack.delete(handle);
    this.frameTable.putRef(m.mfn);
    const g = this.domains.get(m.granter);
    const act = g?.active.get(m.gref);
    if (g && act) {
      act.reading--;
      if (!m.readonly) act.writing--;
      if (act.reading <= 0) g.active.delete(m.gref);
      this.syncInUseFlags(g, m.gref);
    }
    return { status: GNTST_okay, cycles, device: m.device };
  }

  /** Writes GTF_reading/GTF_writing from the hypervisor's own count of active mappings. */
  private syncInUseFlags(g: Domain, gref: number): void {
    const act = g.active.get(gref);
    const flags = readEntry(this.mem, g.grantFrames, gref).flags & ~(GTF_reading | GTF_writing);
    const inUse = (act && act.reading > 0 ? GTF_reading : 0) | (act && act.writing > 0 ? GTF_writing : 0);
    writeFlags(this.mem, g.grantFrames, gref, flags | inUse);
  }

  /**
   * GNTTABOP_transfer (page flip): the caller gives its page `gfn` to `toDomid`, whose entry
   * `gref` must accept a transfer from the caller. The caller's p2m slot becomes invalid
   * until populatePhysmap refills it; the entry gets the mfn and GTF_transfer_completed.
   * The receiver then places the frame with acceptTransfer.
   */
  grantTransfer(caller: number, gfn: number, toDomid: number, gref: number): HypercallResult {
    const cycles = price(this.costs, charges.grantTransfer());
    const fail = (r: Refusal): HypercallResult => ({ status: this.refuse(caller, r), cycles });
    const d = this.domains.get(caller);
    if (!d) return fail({ status: GNTST_bad_domain, kind: 'bad_domain', detail: `no calling domain ${caller}` });
    if (!isInt(gfn) || gfn < 0 || gfn >= d.p2m.length || d.p2m[gfn] === INVALID_MFN) {
      return fail({ status: GNTST_bad_page, kind: 'bad_page', detail: `gfn ${String(gfn)} has no frame in dom${caller}` });
    }
    const mfn = d.p2m[gfn];
    const owner = this.frameTable.owner(mfn);
    if (owner === FRAME_FREE || (this.protectionOn && owner !== caller)) {
      return fail({ status: GNTST_bad_page, kind: 'transfer_not_owner', detail: `mfn ${mfn} (gfn ${gfn}) is owned by ${owner}, not dom${caller}` });
    }
    // CDNA's guarantee (seed 001): a page with I/O in flight (an enqueued buffer, a mapping)
    // cannot change owner. Off, the page goes with its DMA still aimed at it.
    if (this.protectionOn && this.frameTable.ioRefs(mfn) > 0) {
      return fail({ status: GNTST_bad_page, kind: 'transfer_busy', detail: `mfn ${mfn} has ${this.frameTable.ioRefs(mfn)} I/O references` });
    }
    if (!isInt(toDomid)) return fail({ status: GNTST_bad_domain, kind: 'bad_domain', detail: `domid ${String(toDomid)}` });
    const to = this.domains.get(this.resolveDomid(caller, toDomid));
    if (!to) return fail({ status: GNTST_bad_domain, kind: 'bad_domain', detail: `no domain ${toDomid}` });
    if (!validGref(to.grantFrames, gref)) {
      return fail({ status: GNTST_bad_gntref, kind: 'bad_gref', detail: `gref ${String(gref)} outside dom${to.domid}'s grant table` });
    }
    const e = readEntry(this.mem, to.grantFrames, gref);
    if (this.protectionOn && ((e.flags & GTF_type_mask) !== GTF_accept_transfer || e.domid !== caller)) {
      return fail({
        status: GNTST_permission_denied, kind: 'transfer_not_granted',
        detail: `dom${to.domid} gref ${gref} does not accept a transfer from dom${caller} (flags ${e.flags}, domid ${e.domid})`,
      });
    }
    // A completed entry already holds a frame the receiver has not taken: never overwrite it.
    if (e.flags & GTF_transfer_completed) {
      return fail({ status: GNTST_bad_gntref, kind: 'transfer_ref_used', detail: `dom${to.domid} gref ${gref} already received a frame` });
    }
    this.frameTable.transfer(mfn, owner, to.domid, !this.protectionOn);
    // The page changes hands: no device of the giver may reach it any more.
    this.iommu.frameReleased(mfn);
    d.p2m[gfn] = INVALID_MFN;
    to.received.add(mfn);
    writeFrame(this.mem, to.grantFrames, gref, mfn);
    writeFlags(this.mem, to.grantFrames, gref, e.flags | GTF_transfer_completed);
    return { status: GNTST_okay, cycles };
  }

  /**
   * The receiving half of a page flip (the p2m update a PV guest makes after a transfer):
   * the caller places the frame delivered into its entry `gref` at its page `gfn`. The
   * entry is guest-writable, so the frame is checked against what was really flipped to
   * the caller. A frame already at `gfn` is given back to the hypervisor (the
   * decrease_reservation netfront does for the page it posted).
   */
  acceptTransfer(caller: number, gref: number, gfn: number): { status: number; mfn: number; cycles: number } {
    const cycles = price(this.costs, charges.plain());
    const fail = (r: Refusal) => ({ status: this.refuse(caller, r), mfn: INVALID_MFN, cycles });
    const d = this.domains.get(caller);
    if (!d) return fail({ status: GNTST_bad_domain, kind: 'bad_domain', detail: `no calling domain ${caller}` });
    if (!validGref(d.grantFrames, gref)) {
      return fail({ status: GNTST_bad_gntref, kind: 'bad_gref', detail: `gref ${String(gref)} outside dom${caller}'s grant table` });
    }
    const e = readEntry(this.mem, d.grantFrames, gref);
    if (!(e.flags & GTF_accept_transfer) || !(e.flags & GTF_transfer_completed)) {
      return fail({ status: GNTST_bad_gntref, kind: 'accept_not_transferred', detail: `dom${caller} gref ${gref} holds no completed transfer` });
    }
    const mfn = e.frame;
    if (!this.frameTable.valid(mfn)) {
      return fail({ status: GNTST_bad_page, kind: 'bad_page', detail: `mfn ${mfn} is not a frame of this machine` });
    }
    if (this.protectionOn && (!d.received.has(mfn) || this.frameTable.owner(mfn) !== caller)) {
      return fail({ status: GNTST_permission_denied, kind: 'accept_not_transferred', detail: `mfn ${mfn} was not flipped to dom${caller}` });
    }
    if (!isInt(gfn) || gfn < 0 || gfn >= d.p2m.length) {
      return fail({ status: GNTST_bad_page, kind: 'bad_page', detail: `gfn ${String(gfn)} outside dom${caller}'s ${d.p2m.length} pages` });
    }
    const old = d.p2m[gfn];
    if (old !== INVALID_MFN && old !== mfn) {
      if (this.frameTable.ioRefs(old) > 0) {
        return fail({ status: GNTST_general_error, kind: 'page_busy', detail: `gfn ${gfn} (mfn ${old}) has I/O in flight` });
      }
      if (this.frameTable.owner(old) === caller) {
        this.frameTable.free(old);
        this.iommu.frameReleased(old);
      }
    }
    d.p2m[gfn] = mfn;
    this.iommu.pageAdded(caller, gfn, mfn);
    d.received.delete(mfn);
    return { status: GNTST_okay, mfn, cycles };
  }

  /** XENMEM_decrease_reservation of one page: the caller gives page `gfn` back to Xen. */
  decreaseReservation(caller: number, gfn: number): HypercallResult {
    const cycles = price(this.costs, charges.plain());
    const fail = (r: Refusal): HypercallResult => ({ status: this.refuse(caller, r), cycles });
    const d = this.domains.get(caller);
    if (!d) return fail({ status: GNTST_bad_domain, kind: 'bad_domain', detail: `no calling domain ${caller}` });
    if (!isInt(gfn) || gfn < 0 || gfn >= d.p2m.length || d.p2m[gfn] === INVALID_MFN) {
      return fail({ status: GNTST_bad_page, kind: 'bad_page', detail: `gfn ${String(gfn)} has no frame in dom${caller}` });
    }
    const mfn = d.p2m[gfn];
    if (this.frameTable.ioRefs(mfn) > 0) {
      return fail({ status: GNTST_general_error, kind: 'page_busy', detail: `gfn ${gfn} (mfn ${mfn}) has I/O in flight` });
    }
    if (this.frameTable.owner(mfn) === caller) {
      this.frameTable.free(mfn);
      this.iommu.frameReleased(mfn);
    }
    d.p2m[gfn] = INVALID_MFN;
    return { status: GNTST_okay, cycles };
  }

  /** XENMEM_populate_physmap of one page: a fresh zeroed frame at an empty gfn. */
  populatePhysmap(caller: number, gfn: number): { status: number; mfn: number; cycles: number } {
    const cycles = price(this.costs, charges.plain());
    const fail = (r: Refusal) => ({ status: this.refuse(caller, r), mfn: INVALID_MFN, cycles });
    const d = this.domains.get(caller);
    if (!d) return fail({ status: GNTST_bad_domain, kind: 'bad_domain', detail: `no calling domain ${caller}` });
    if (!isInt(gfn) || gfn < 0 || gfn >= d.p2m.length) {
      return fail({ status: GNTST_bad_page, kind: 'bad_page', detail: `gfn ${String(gfn)} outside dom${caller}'s ${d.p2m.length} pages` });
    }
    if (d.p2m[gfn] !== INVALID_MFN) {
      return fail({ status: GNTST_bad_page, kind: 'bad_page', detail: `dom${caller} gfn ${gfn} already has mfn ${d.p2m[gfn]}` });
    }
    if (this.frameTable.freeFrames < 1) {
      return fail({ status: GNTST_general_error, kind: 'out_of_memory', detail: `no free frame for dom${caller} gfn ${gfn}` });
    }
    const [mfn] = this.frameTable.allocate(caller, 1);
    this.scrub(mfn);
    d.p2m[gfn] = mfn;
    this.iommu.pageAdded(caller, gfn, mfn);
    return { status: GNTST_okay, mfn, cycles };
  }

  /**
   * The caller's kernel booted again in the same domain (a restarted driver domain): what the
   * dead kernel left is released — every port closed (an interdomain peer's end goes back to
   * unbound, ready for the new kernel to bind; a physical IRQ is free again) and every grant
   * mapping it held unmapped (the granters can end those grants). Its memory stays.
   */
  softReset(caller: number): HypercallResult & { ports: number; mappings: number; boots: number } {
    const d = this.domains.get(caller);
    const cycles = price(this.costs, charges.plain());
    if (!d) return { status: this.refuse(caller, { status: GNTST_bad_domain, kind: 'bad_domain', detail: `no calling domain ${caller}` }), cycles, ports: 0, mappings: 0, boots: 0 };
    const handles = [...d.maptrack.keys()];
    for (const handle of handles) this.grantUnmap(caller, handle);
    const ports = d.ports.bound();
    for (const [port] of ports) this.evtchnClose(caller, port);
    // each kernel calls it once as it boots: more than one means an earlier one ran (and died)
    d.boots++;
    return { status: GNTST_okay, cycles, ports: ports.length, mappings: handles.length, boots: d.boots };
  }

  /**
   * A PV guest's own write to its phys-to-machine table: page `gfn` now names machine frame
   * `mfn`. In Xen that table is the guest's own memory, written without a hypercall and
   * never trusted; the lab keeps it here, so the guest writes it through this call, which —
   * as in Xen — checks only that both numbers exist. Every use of a frame named through it
   * is checked instead: the grant check (the frame must be the granter's), CDNA validation,
   * the IOMMU. A hostile guest uses it to name another domain's frame.
   */
  p2mWrite(caller: number, gfn: number, mfn: number): HypercallResult {
    const cycles = price(this.costs, charges.plain());
    const fail = (r: Refusal): HypercallResult => ({ status: this.refuse(caller, r), cycles });
    const d = this.domains.get(caller);
    if (!d) return fail({ status: GNTST_bad_domain, kind: 'bad_domain', detail: `no calling domain ${caller}` });
    if (!isInt(gfn) || gfn < 0 || gfn >= d.p2m.length) {
      return fail({ status: GNTST_bad_page, kind: 'bad_page', detail: `gfn ${String(gfn)} outside dom${caller}'s ${d.p2m.length} pages` });
    }
    if (!this.frameTable.valid(mfn)) return fail({ status: GNTST_bad_page, kind: 'bad_page', detail: `mfn ${String(mfn)} is not a frame of this machine` });
    d.p2m[gfn] = mfn;
    return { status: GNTST_okay, cycles };
  }

  /**
   * Frames `domid` owns that its p2m does not name: handed to it (a transfer it has not
   * placed yet) or left behind by its own p2m writes. Part of its memory all the same.
   */
  unmappedFrames(domid: number): number[] {
    const d = this.domains.get(domid);
    if (!d) return [];
    const mapped = new Set(d.p2m);
    return this.frameTable.ownedBy(domid).filter((mfn) => !mapped.has(mfn));
  }

  // ---------------------------------------------------------- event channels

  private evtchnFail(caller: number, status: number, kind: ViolationKind, detail: string): number {
    return this.refuse(caller, { status, kind, detail });
  }

  /** EVTCHNOP_alloc_unbound: a port of the caller that `remoteDom` may bind to. */
  evtchnAllocUnbound(caller: number, remoteDom: number): { port: number; status: number; cycles: number } {
    const cycles = price(this.costs, charges.plain());
    const d = this.domains.get(caller);
    if (!d) return { port: -1, status: this.evtchnFail(caller, EVTCHN_ESRCH, 'bad_domain', `no calling domain ${caller}`), cycles };
    const remote = isInt(remoteDom) ? this.resolveDomid(caller, remoteDom) : -1;
    if (!this.domains.has(remote)) return { port: -1, status: this.evtchnFail(caller, EVTCHN_ESRCH, 'bad_domain', `no domain ${String(remoteDom)}`), cycles };
    const port = d.ports.alloc({ kind: 'unbound', remoteDom: remote });
    if (port === undefined) return { port: -1, status: this.evtchnFail(caller, EVTCHN_ENOSPC, 'evtchn_no_space', `dom${caller} has no free port`), cycles };
    return { port, status: EVTCHN_OK, cycles };
  }

  /** EVTCHNOP_bind_interdomain: connects a new port of the caller to `remoteDom`'s unbound port. */
  evtchnBindInterdomain(caller: number, remoteDom: number, remotePort: number): { port: number; status: number; cycles: number } {
    const cycles = price(this.costs, charges.plain());
    const fail = (status: number, kind: ViolationKind, detail: string) => ({ port: -1, status: this.evtchnFail(caller, status, kind, detail), cycles });
    const d = this.domains.get(caller);
    if (!d) return fail(EVTCHN_ESRCH, 'bad_domain', `no calling domain ${caller}`);
    const remoteId = isInt(remoteDom) ? this.resolveDomid(caller, remoteDom) : -1;
    const r = this.domains.get(remoteId);
    if (!r) return fail(EVTCHN_ESRCH, 'bad_domain', `no domain ${String(remoteDom)}`);
    const rs = r.ports.get(remotePort);
    if (!r.ports.valid(remotePort) || rs.kind !== 'unbound') {
      return fail(EVTCHN_EINVAL, 'evtchn_bad_port', `dom${remoteId} port ${String(remotePort)} is not unbound (${rs.kind})`);
    }
    if (this.protectionOn && rs.remoteDom !== caller) {
      return fail(EVTCHN_EPERM, 'evtchn_not_offered', `dom${remoteId} port ${remotePort} is offered to dom${rs.remoteDom}, not dom${caller}`);
    }
    const port = d.ports.alloc({ kind: 'interdomain', remoteDom: remoteId, remotePort });
    if (port === undefined) return fail(EVTCHN_ENOSPC, 'evtchn_no_space', `dom${caller} has no free port`);
    r.ports.set(remotePort, { kind: 'interdomain', remoteDom: caller, remotePort: port });
    return { port, status: EVTCHN_OK, cycles };
  }

  /**
   * EVTCHNOP_send: returns the (domid, port) the service must raise a virtual interrupt on.
   * Given the send's modelled time `tNs` and with protection on, a storm is bounded: sends
   * beyond the port's burst in a window are counted (evtchn_storm) and coalesced into one
   * upcall at the window's end (`target.atNs`), or into nothing if that one is already due.
   * The status stays EVTCHN_OK, as Xen's does for a send on a pending port.
   */
  evtchnSend(caller: number, port: number, tNs?: number): { status: number; target?: { domid: number; port: number; atNs?: number }; coalesced?: boolean; cycles: number } {
    const cycles = price(this.costs, charges.evtchnSend());
    const d = this.domains.get(caller);
    if (!d) return { status: this.evtchnFail(caller, EVTCHN_ESRCH, 'bad_domain', `no calling domain ${caller}`), cycles };
    const s = d.ports.get(port);
    if (s.kind !== 'interdomain') {
      return { status: this.evtchnFail(caller, EVTCHN_EINVAL, 'evtchn_bad_port', `dom${caller} port ${String(port)} is ${s.kind}, not connected`), cycles };
    }
    const target = { domid: s.remoteDom, port: s.remotePort };
    // the driver domain is trusted, as in Xen: only guests' sends are bounded
    if (tNs === undefined || !this.protectionOn || caller === 0) return { status: EVTCHN_OK, target, cycles };
    const a = this.notifyLimit.admit(caller, port, tNs);
    if (a.action === 'deliver') return { status: EVTCHN_OK, target, cycles };
    this.refuse(caller, { status: EVTCHN_OK, kind: 'evtchn_storm', detail: `dom${caller} port ${port}: more than ${this.notifyLimit.burst} notifications in ${this.notifyLimit.windowNs} ns, coalesced into one at ${a.atNs} ns` });
    return a.action === 'defer' ? { status: EVTCHN_OK, target: { ...target, atNs: a.atNs }, coalesced: true, cycles } : { status: EVTCHN_OK, coalesced: true, cycles };
  }

  /** EVTCHNOP_close: an interdomain peer's end goes back to unbound, as in Xen. */
  evtchnClose(caller: number, port: number): HypercallResult {
    const cycles = price(this.costs, charges.plain());
    const d = this.domains.get(caller);
    if (!d) return { status: this.evtchnFail(caller, EVTCHN_ESRCH, 'bad_domain', `no calling domain ${caller}`), cycles };
    const s = d.ports.get(port);
    if (s.kind === 'free') {
      return { status: this.evtchnFail(caller, EVTCHN_EINVAL, 'evtchn_bad_port', `dom${caller} port ${String(port)} is not in use`), cycles };
    }
    if (s.kind === 'interdomain') {
      const r = this.domains.get(s.remoteDom);
      const back = r?.ports.get(s.remotePort);
      if (r && back?.kind === 'interdomain' && back.remoteDom === caller && back.remotePort === port) {
        r.ports.set(s.remotePort, { kind: 'unbound', remoteDom: caller });
      }
    } else if (s.kind === 'pirq') {
      this.pirqRoutes.delete(s.irq);
    }
    d.ports.set(port, { kind: 'free' });
    this.notifyLimit.forget(caller, port);
    return { status: EVTCHN_OK, cycles };
  }

  /** The state of a port (for the service and tests). */
  evtchnStatus(domid: number, port: number) {
    return this.domains.get(domid)?.ports.get(port) ?? { kind: 'free' as const };
  }

  // ------------------------------------------------------ physical interrupts

  /** Lets a non-driver domain bind `irq` (a device passed through to it). Host API. */
  permitPirq(domid: number, irq: number): void {
    const d = this.domains.get(domid);
    if (!d) throw new HypervisorError('bad_domain', `no domain ${domid}`);
    if (!isInt(irq) || irq < 0) throw new HypervisorError('bad_argument', `irq ${irq} is not a non-negative integer`);
    d.permittedIrqs.add(irq);
  }

  /**
   * EVTCHNOP_bind_pirq: routes physical interrupt `irq` to a new port of `domid`. dom0 may
   * bind any irq, other domains only those permitted. Returns the port, or -1 if refused.
   */
  bindPirq(domid: number, irq: number): number {
    const d = this.domains.get(domid);
    if (!d) return this.refuse(domid, { status: -1, kind: 'bad_domain', detail: `no domain ${domid}` });
    if (!isInt(irq) || irq < 0) return this.refuse(domid, { status: -1, kind: 'pirq_not_permitted', detail: `irq ${String(irq)} is not a valid irq` });
    if (this.protectionOn && domid !== 0 && !d.permittedIrqs.has(irq)) {
      return this.refuse(domid, { status: -1, kind: 'pirq_not_permitted', detail: `dom${domid} may not bind irq ${irq}` });
    }
    const bound = this.pirqRoutes.get(irq);
    if (bound) return this.refuse(domid, { status: -1, kind: 'pirq_busy', detail: `irq ${irq} is bound to dom${bound.domid} port ${bound.port}` });
    const port = d.ports.alloc({ kind: 'pirq', irq });
    if (port === undefined) return this.refuse(domid, { status: -1, kind: 'evtchn_no_space', detail: `dom${domid} has no free port` });
    this.pirqRoutes.set(irq, { domid, port });
    return port;
  }

  /** A device raised `irq`: the (domid, port) to notify, or undefined if nobody bound it. */
  raisePirq(irq: number): { domid: number; port: number; cycles: number } | undefined {
    const route = this.pirqRoutes.get(irq);
    if (!route) return undefined;
    return { ...route, cycles: price(this.costs, charges.pirq()) };
  }

  // ------------------------------------------------------------------ IOMMU

  /**
   * Maps page `gfn` of context `ctx`'s domain into the context (a guest, or dom0 as the
   * toolstack, asks). The gfn goes through the domain's p2m; the IOMMU refuses a frame the
   * domain does not own. Cycles: hypercall + iommu_map.
   */
  iommuMap(caller: number, ctx: number, gfn: number, perms: IommuPerms): HypercallResult {
    const cycles = price(this.costs, charges.iommuMap(1));
    const c = this.iommu.context(ctx);
    if (!c || (caller !== c.domid && caller !== 0)) {
      return { status: this.refuse(caller, { status: XEN_ESRCH, kind: 'iommu_bad_context', detail: `dom${caller} may not change IOMMU context ${String(ctx)}` }), cycles };
    }
    const p2m = this.domains.get(c.domid)!.p2m;
    if (!isInt(gfn) || gfn < 0 || gfn >= p2m.length || p2m[gfn] === INVALID_MFN) {
      return { status: this.refuse(caller, { status: XEN_EINVAL, kind: 'iommu_bad_argument', detail: `gfn ${String(gfn)} has no frame in dom${c.domid}` }), cycles };
    }
    return { status: this.iommu.map(ctx, gfn, p2m[gfn]!, perms).status, cycles };
  }

  /** Unmaps page `gfn` of context `ctx`. Cycles: hypercall + iommu_unmap. */
  iommuUnmap(caller: number, ctx: number, gfn: number): HypercallResult {
    const cycles = price(this.costs, charges.iommuUnmap(1));
    const c = this.iommu.context(ctx);
    if (!c || (caller !== c.domid && caller !== 0)) {
      return { status: this.refuse(caller, { status: XEN_ESRCH, kind: 'iommu_bad_context', detail: `dom${caller} may not change IOMMU context ${String(ctx)}` }), cycles };
    }
    return { status: this.iommu.unmap(ctx, gfn).status, cycles };
  }

  // ------------------------------------------------------------------- CDNA

  /**
   * Gives NIC queue set `qs` to `domid` under CDNA: its TX and RX rings are allocated in
   * frames the hypervisor owns. Returns what Nic.configureQueueSet needs. Host API.
   */
  cdnaAttach(domid: number, setup: { qs: number; size?: number }): CdnaQueueSetInfo {
    return this.cdna.attach(domid, setup);
  }

  /** Takes the queue set back after the NIC reset it: enqueued buffers' references are dropped. Host API. */
  cdnaDetach(qs: number): void {
    this.cdna.detach(qs);
  }

  cdnaQueueSet(qs: number): CdnaQueueSetInfo | undefined {
    return this.cdna.info(qs);
  }

  /** Buffers enqueued on a ring and not yet completed. */
  cdnaOutstanding(qs: number, ring: CdnaRing): number {
    return this.cdna.outstanding(qs, ring);
  }

  /**
   * The CDNA enqueue hypercall: validates each buffer (the caller owns its page), takes an
   * I/O reference on its frame and writes its descriptor. Returns the tail for the doorbell.
   */
  cdnaEnqueue(caller: number, qs: number, ring: CdnaRing, bufs: CdnaBuffer[]): CdnaEnqueueResult {
    return this.cdna.enqueue(caller, qs, ring, bufs);
  }

  /**
   * The CDNA completion hypercall: the next `count` descriptors, written back by the NIC
   * (done by `tNs` if given), release their frames; their buffers are returned.
   */
  cdnaComplete(caller: number, qs: number, ring: CdnaRing, count: number, tNs?: number): CdnaCompleteResult {
    return this.cdna.complete(caller, qs, ring, count, tNs);
  }

  /** Completes every descriptor of the ring that the NIC finished by tNs (none is not an error). */
  cdnaCompleteDone(caller: number, qs: number, ring: CdnaRing, tNs: number): CdnaCompleteResult {
    const q = this.cdna.info(qs);
    const n = q && q.domid === caller ? this.cdna.doneCount(qs, ring, tNs) : 1;
    if (n === 0) return { status: 0, buffers: [], cycles: price(this.costs, charges.plain()) };
    return this.cdna.complete(caller, qs, ring, n, tNs);
  }
}
