// I/O page tables, as an IOMMU (Intel VT-d, AMD-Vi) walks them, living in machine memory.
//
// One table per DMA context: a device, or one queue set of a multiqueue NIC (the context id
// the hypervisor allocates here; how the NIC tags a DMA with it is the NIC's business).
// The tables sit in frames the hypervisor owns (DOMID_XEN, from the frame table), so a guest
// can neither read nor write them; the NIC side (libs/nic iommuDma) walks them itself.
//
// I/O virtual address (IOVA) = the guest's own physical address: gfn * 4096 + offset, so a
// guest programs its device with guest-physical addresses, as under VT-d.
//
// Layout: a 2-level radix table over 4 KiB I/O pages; every entry is a u64, little endian.
//   root table   one frame, 512 entries, indexed by gfn >> 9      (gfn bits 17..9)
//                entry: bit 0 P (a leaf table is present), bits 12..51 mfn of the leaf table
//   leaf table   one frame, 512 entries, indexed by gfn & 511     (gfn bits 8..0)
//                entry: bit 0 P (present), bit 1 R (device may read), bit 2 W (device may
//                write), bits 12..51 mfn of the page; bits 3..11 and 52..63 are zero
//   So an entry is mfn * 4096 + flags, and a context covers gfn 0 .. 2^18 - 1 (1 GiB);
//   an access beyond it faults. Leaf tables are allocated on the first mapping in their
//   512-page range and freed with the context.
//
// The hypervisor keeps a shadow of every mapping (for its reverse map mfn -> mappings), but
// the table in memory is what the device uses. When a mapping goes or changes, the IOTLB of
// the device may still hold it: every such change queues an IOTLB invalidation that the
// service must deliver to the device (takeInvalidations) before it reports the change done.
import { PAGE_SIZE } from '@vnetlab/memory';
import { DOMID_XEN, FRAME_FREE, INVALID_MFN, XEN_EINVAL, XEN_ENOMEM, XEN_EPERM, XEN_ESRCH, XEN_OK } from './constants.js';
import { HypervisorError } from './errors.js';
import type { HypervisorCore } from './hypervisor_core.js';

export const IOMMU_PTE_P = 1;
export const IOMMU_PTE_R = 2;
export const IOMMU_PTE_W = 4;
export const IOMMU_PTE_SIZE = 8;
export const IOMMU_ENTRIES_PER_TABLE = PAGE_SIZE / IOMMU_PTE_SIZE;
export const IOMMU_LEVEL_BITS = 9;
/** One past the highest gfn a context can map: 512 leaf tables of 512 pages. */
export const IOMMU_GFN_LIMIT = IOMMU_ENTRIES_PER_TABLE * IOMMU_ENTRIES_PER_TABLE;

/** What the device may do with a mapped page. */
export type IommuPerms = 'r' | 'w' | 'rw';

export interface IommuPte { present: boolean; read: boolean; write: boolean; mfn: number }

/** An IOTLB entry (gfn) or a whole context (no gfn) the device must forget. */
export interface IotlbInvalidation { ctx: number; gfn?: number }

export interface IommuResult { status: number; cycles: number }

export interface IommuContextInfo {
  ctx: number;
  domid: number;
  rootMfn: number;
  /** Root and leaf table frames (all owned by DOMID_XEN). */
  tableFrames: number[];
  mappings: number;
  /** Set by mapDomain: pages the domain gains later are mapped too (passthrough). */
  followsDomain: boolean;
}

export function encodeIommuPte(mfn: number, flags: number, out: Buffer = Buffer.alloc(IOMMU_PTE_SIZE), off = 0): Buffer {
  out.writeBigUInt64LE(BigInt(mfn) * BigInt(PAGE_SIZE) + BigInt(flags & (IOMMU_PTE_P | IOMMU_PTE_R | IOMMU_PTE_W)), off);
  return out;
}

export function decodeIommuPte(buf: Buffer, off = 0): IommuPte {
  const v = buf.readBigUInt64LE(off);
  const flags = Number(v & 0xfffn);
  return {
    present: (flags & IOMMU_PTE_P) !== 0,
    read: (flags & IOMMU_PTE_R) !== 0,
    write: (flags & IOMMU_PTE_W) !== 0,
    mfn: Number((v >> 12n) & 0xff_ffff_ffffn),
  };
}

function permFlags(perms: unknown): number | undefined {
  if (perms === 'r') return IOMMU_PTE_P | IOMMU_PTE_R;
  if (perms === 'w') return IOMMU_PTE_P | IOMMU_PTE_W;
  if (perms === 'rw') return IOMMU_PTE_P | IOMMU_PTE_R | IOMMU_PTE_W;
  return undefined;
}

function permsOf(flags: number): IommuPerms {
  const r = flags & IOMMU_PTE_R;
  const w = flags & IOMMU_PTE_W;
  return r && w ? 'rw' : r ? 'r' : 'w';
}

interface Context {
  ctx: number;
  domid: number;
  rootMfn: number;
  /** Root index -> leaf table mfn. */
  leaves: Map<number, number>;
  /** gfn -> the mapping as written in the table. */
  entries: Map<number, { mfn: number; flags: number }>;
  followsDomain: boolean;
}

const ZERO_PAGE = Buffer.alloc(PAGE_SIZE);
/** Beyond this many queued invalidations, they collapse into whole-context ones. */
const MAX_QUEUED_INVALIDATIONS = 4096;

/**
 * The hypervisor's side of the IOMMU: contexts, their page tables in machine memory, and
 * the rule that a context may map only pages its domain owns. Guest-reachable bad input
 * gets a status and a violation; host misuse (unknown domain or context) throws.
 */
export class Iommu {
  private readonly ctxs = new Map<number, Context>();
  private nextCtx = 0;
  /** mfn -> ctx -> gfns mapping it: what must go when the page changes hands. */
  private readonly byMfn = new Map<number, Map<number, Set<number>>>();
  private queued: IotlbInvalidation[] = [];

  constructor(private readonly core: HypervisorCore) {}

  /** A new, empty context for a device (or queue set) assigned to `domid`. Host API. */
  createContext(domid: number): { ctx: number; rootMfn: number } {
    if (!this.core.p2m(domid)) throw new HypervisorError('bad_domain', `no domain ${domid}`);
    const rootMfn = this.allocTable();
    if (rootMfn === undefined) throw new HypervisorError('out_of_memory', 'out of memory: no free frame for an IOMMU root table');
    const ctx = this.nextCtx++;
    this.ctxs.set(ctx, { ctx, domid, rootMfn, leaves: new Map(), entries: new Map(), followsDomain: false });
    return { ctx, rootMfn };
  }

  /** Unmaps everything and frees the context's table frames. Host API (the device is detached). */
  destroyContext(ctx: number): void {
    const c = this.ctxs.get(ctx);
    if (!c) throw new HypervisorError('bad_argument', `no IOMMU context ${ctx}`);
    for (const [gfn, e] of c.entries) this.unlink(e.mfn, ctx, gfn);
    for (const mfn of c.leaves.values()) this.core.frameTable.free(mfn);
    this.core.frameTable.free(c.rootMfn);
    this.ctxs.delete(ctx);
    this.invalidate({ ctx });
  }

  /** Destroys every context of a domain (the domain is going away). */
  destroyDomainContexts(domid: number): void {
    for (const c of [...this.ctxs.values()]) if (c.domid === domid) this.destroyContext(c.ctx);
  }

  /**
   * Maps I/O page `gfn` of context `ctx` to machine frame `mfn`. Refused unless the
   * context's domain owns the frame (protection on). Remapping a gfn replaces its entry.
   * Cycles: one iommu_map (no trap: a hypercall wrapper adds it).
   */
  map(ctx: number, gfn: number, mfn: number, perms: IommuPerms): IommuResult {
    const cycles = this.core.costs.cycles('iommu_map');
    const c = this.ctxs.get(ctx);
    if (!c) return { status: this.core.refuse(-1, XEN_ESRCH, 'iommu_bad_context', `no IOMMU context ${String(ctx)}`), cycles };
    const status = this.mapOne(c, gfn, mfn, perms);
    return { status, cycles };
  }

  /** Removes the mapping of `gfn` (a no-op if there is none) and queues its IOTLB invalidation. */
  unmap(ctx: number, gfn: number): IommuResult {
    const cycles = this.core.costs.cycles('iommu_unmap');
    const c = this.ctxs.get(ctx);
    if (!c) return { status: this.core.refuse(-1, XEN_ESRCH, 'iommu_bad_context', `no IOMMU context ${String(ctx)}`), cycles };
    if (!this.validGfn(gfn)) {
      return { status: this.core.refuse(c.domid, XEN_EINVAL, 'iommu_bad_argument', `gfn ${String(gfn)} outside an IOMMU context (0..${IOMMU_GFN_LIMIT - 1})`), cycles };
    }
    this.clear(c, gfn);
    return { status: XEN_OK, cycles };
  }

  /**
   * Maps every page `domid` owns at its own gfn, read-write: passthrough's static mapping.
   * From then on pages the domain gains (populate, accepted flips) are mapped too, and
   * pages it loses are unmapped. Only the context's own domain may be mapped.
   */
  mapDomain(ctx: number, domid?: number): { status: number; mapped: number; cycles: number } {
    const c = this.ctxs.get(ctx);
    if (!c) return { status: this.core.refuse(-1, XEN_ESRCH, 'iommu_bad_context', `no IOMMU context ${String(ctx)}`), mapped: 0, cycles: 0 };
    const target = domid ?? c.domid;
    if (target !== c.domid) {
      return {
        status: this.core.refuse(c.domid, XEN_EPERM, 'iommu_foreign_page', `context ${ctx} of dom${c.domid} may not map the pages of dom${String(target)}`),
        mapped: 0, cycles: 0,
      };
    }
    const p2m = this.core.p2m(target) ?? [];
    let mapped = 0;
    let status = XEN_OK;
    for (let gfn = 0; gfn < p2m.length; gfn++) {
      const mfn = p2m[gfn]!;
      if (mfn === INVALID_MFN || this.core.frameTable.owner(mfn) !== target) continue;
      const s = this.mapOne(c, gfn, mfn, 'rw');
      if (s === XEN_OK) mapped++;
      else if (status === XEN_OK) status = s;
    }
    c.followsDomain = true;
    return { status, mapped, cycles: this.core.costs.cycles('iommu_map', mapped) };
  }

  /**
   * The frame changes hands (flipped away, freed): every mapping of it goes, in every
   * context, with its IOTLB invalidation. Returns how many mappings were removed.
   */
  frameReleased(mfn: number): number {
    const users = this.byMfn.get(mfn);
    if (!users) return 0;
    let n = 0;
    for (const [ctx, gfns] of [...users]) {
      const c = this.ctxs.get(ctx)!;
      for (const gfn of [...gfns]) {
        this.clear(c, gfn);
        n++;
      }
    }
    return n;
  }

  /** `domid` placed frame `mfn` at `gfn`: contexts that follow the domain map it. */
  pageAdded(domid: number, gfn: number, mfn: number): number {
    let n = 0;
    for (const c of this.ctxs.values()) {
      if (c.domid !== domid || !c.followsDomain) continue;
      if (this.mapOne(c, gfn, mfn, 'rw') === XEN_OK) n++;
    }
    return n;
  }

  /** The IOTLB invalidations queued since the last call, oldest first (for the device). */
  takeInvalidations(): IotlbInvalidation[] {
    const out = this.queued;
    this.queued = [];
    return out;
  }

  /** What the table in memory says for `gfn` (the hypervisor's own walk, for tests and traces). */
  translate(ctx: number, gfn: number): { mfn: number; perms: IommuPerms } | undefined {
    const c = this.ctxs.get(ctx);
    if (!c || !this.validGfn(gfn)) return undefined;
    const root = decodeIommuPte(this.core.mem.read(c.rootMfn, (gfn >> IOMMU_LEVEL_BITS) * IOMMU_PTE_SIZE, IOMMU_PTE_SIZE));
    if (!root.present) return undefined;
    const raw = this.core.mem.read(root.mfn, (gfn % IOMMU_ENTRIES_PER_TABLE) * IOMMU_PTE_SIZE, IOMMU_PTE_SIZE);
    const leaf = decodeIommuPte(raw);
    if (!leaf.present) return undefined;
    return { mfn: leaf.mfn, perms: permsOf(raw.readUInt8(0)) };
  }

  /** The context's mappings, by gfn ascending. */
  mappings(ctx: number): Array<{ gfn: number; mfn: number; perms: IommuPerms }> {
    const c = this.ctxs.get(ctx);
    if (!c) return [];
    return [...c.entries].sort((a, b) => a[0] - b[0]).map(([gfn, e]) => ({ gfn, mfn: e.mfn, perms: permsOf(e.flags) }));
  }

  context(ctx: number): IommuContextInfo | undefined {
    const c = this.ctxs.get(ctx);
    if (!c) return undefined;
    return {
      ctx, domid: c.domid, rootMfn: c.rootMfn, tableFrames: [c.rootMfn, ...c.leaves.values()],
      mappings: c.entries.size, followsDomain: c.followsDomain,
    };
  }

  contextIds(): number[] {
    return [...this.ctxs.keys()];
  }

  // ------------------------------------------------------------------ inside

  private validGfn(gfn: unknown): gfn is number {
    return typeof gfn === 'number' && Number.isInteger(gfn) && gfn >= 0 && gfn < IOMMU_GFN_LIMIT;
  }

  private mapOne(c: Context, gfn: number, mfn: number, perms: IommuPerms): number {
    const bad = (detail: string) => this.core.refuse(c.domid, XEN_EINVAL, 'iommu_bad_argument', detail);
    if (!this.validGfn(gfn)) return bad(`gfn ${String(gfn)} outside an IOMMU context (0..${IOMMU_GFN_LIMIT - 1})`);
    const flags = permFlags(perms);
    if (flags === undefined) return bad(`perms ${String(perms)} is not one of r, w, rw`);
    if (!this.core.frameTable.valid(mfn)) return bad(`mfn ${String(mfn)} is not a frame of this machine`);
    const owner = this.core.frameTable.owner(mfn);
    if (owner === FRAME_FREE || (this.core.protection() && owner !== c.domid)) {
      return this.core.refuse(c.domid, XEN_EPERM, 'iommu_foreign_page', `context ${c.ctx} of dom${c.domid}: mfn ${mfn} (gfn ${gfn}) is owned by ${owner}`);
    }
    const ri = gfn >> IOMMU_LEVEL_BITS;
    let leaf = c.leaves.get(ri);
    if (leaf === undefined) {
      leaf = this.allocTable();
      if (leaf === undefined) {
        return this.core.refuse(c.domid, XEN_ENOMEM, 'out_of_memory', `no free frame for an IOMMU leaf table of context ${c.ctx}`);
      }
      c.leaves.set(ri, leaf);
      this.core.mem.write(c.rootMfn, ri * IOMMU_PTE_SIZE, encodeIommuPte(leaf, IOMMU_PTE_P));
    }
    const old = c.entries.get(gfn);
    if (old) {
      this.unlink(old.mfn, c.ctx, gfn);
      // The device may hold the old translation.
      this.invalidate({ ctx: c.ctx, gfn });
    }
    this.core.mem.write(leaf, (gfn % IOMMU_ENTRIES_PER_TABLE) * IOMMU_PTE_SIZE, encodeIommuPte(mfn, flags));
    c.entries.set(gfn, { mfn, flags });
    this.link(mfn, c.ctx, gfn);
    return XEN_OK;
  }

  private clear(c: Context, gfn: number): void {
    const e = c.entries.get(gfn);
    if (!e) return;
    const leaf = c.leaves.get(gfn >> IOMMU_LEVEL_BITS)!;
    this.core.mem.write(leaf, (gfn % IOMMU_ENTRIES_PER_TABLE) * IOMMU_PTE_SIZE, Buffer.alloc(IOMMU_PTE_SIZE));
    c.entries.delete(gfn);
    this.unlink(e.mfn, c.ctx, gfn);
    this.invalidate({ ctx: c.ctx, gfn });
  }

  /** A zeroed hypervisor-owned frame (an empty table), or undefined if memory is full. */
  private allocTable(): number | undefined {
    if (this.core.frameTable.freeFrames < 1) return undefined;
    const [mfn] = this.core.frameTable.allocate(DOMID_XEN, 1);
    if (!this.core.mem.read(mfn!, 0, PAGE_SIZE).equals(ZERO_PAGE)) this.core.mem.write(mfn!, 0, ZERO_PAGE);
    return mfn!;
  }

  private link(mfn: number, ctx: number, gfn: number): void {
    let users = this.byMfn.get(mfn);
    if (!users) this.byMfn.set(mfn, (users = new Map()));
    let gfns = users.get(ctx);
    if (!gfns) users.set(ctx, (gfns = new Set()));
    gfns.add(gfn);
  }

  private unlink(mfn: number, ctx: number, gfn: number): void {
    const users = this.byMfn.get(mfn);
    const gfns = users?.get(ctx);
    if (!users || !gfns) return;
    gfns.delete(gfn);
    if (gfns.size === 0) users.delete(ctx);
    if (users.size === 0) this.byMfn.delete(mfn);
  }

  private invalidate(inv: IotlbInvalidation): void {
    this.queued.push(inv);
    if (this.queued.length > MAX_QUEUED_INVALIDATIONS) {
      // A device that has not been told for this long gets whole-context flushes instead.
      const ctxs = new Set(this.queued.map((q) => q.ctx));
      this.queued = [...ctxs].map((ctx) => ({ ctx }));
    }
  }
}
