// The device side of an IOMMU: a DmaPort that translates every DMA through an I/O page table
// in machine memory, as VT-d's remapping hardware does, with a small IOTLB.
//
// The table is the hypervisor's (libs/hypervisor/src/iommu.ts, which documents it): IOVA =
// gfn * 4096 + offset; a 2-level radix table of u64 little-endian entries, 512 per frame;
// root entry (index gfn >> 9): bit 0 present, bits 12..51 mfn of the leaf table; leaf entry
// (index gfn & 511): bit 0 present, bit 1 read, bit 2 write, bits 12..51 mfn of the page.
// Only the layout is shared, not code: this is what a device would see in memory.
import { DmaFault, type DmaMachineMemory, type DmaPort } from './dma_port.js';

const PAGE = 4096;
const PTE_SIZE = 8;
const LEVEL_BITS = 9;
const ENTRIES = 512;
const PTE_P = 1;
const PTE_R = 2;
const PTE_W = 4;
/** gfns a 2-level table covers. */
const GFN_LIMIT = ENTRIES * ENTRIES;

export type IommuFaultKind = 'not_present' | 'read_denied' | 'write_denied' | 'out_of_range' | 'bad_table';

/** A DMA the IOMMU refused: nothing of it was read or written. */
export class IommuFault extends DmaFault {
  constructor(
    addr: number,
    len: number,
    readonly kind: IommuFaultKind,
    readonly gfn: number,
    detail: string,
  ) {
    super(addr, len, `iommu_fault: ${kind}: ${detail}`);
    this.name = 'IommuFault';
  }
}

export interface IotlbStats {
  hits: number;
  misses: number;
  /** Table walks done (one per miss that found a table to walk). */
  walks: number;
  /** DMAs refused. */
  faults: number;
  /** Pages that would have faulted but went to the bus untranslated (checks off). */
  unchecked: number;
  /** Walk latency accumulated (walks x walkNs), ns of device time. */
  walkNs: number;
}

export interface IommuDmaOptions {
  /** IOTLB entries (default 64), least recently used evicted first. */
  iotlbSize?: number;
  /** Device time one walk adds, ns (the cost table's iommu_walk; default 0). */
  walkNs?: number;
  /**
   * True while the host's protection is off (a demonstration): an address the table does not
   * map, or maps without the access asked, goes to the bus untranslated — IOVA taken as a
   * machine address, as on a machine without an IOMMU — instead of faulting.
   */
  unchecked?: () => boolean;
}

export interface IommuDmaPort extends DmaPort {
  readonly rootMfn: number;
  readonly stats: IotlbStats;
  /** IOTLB invalidation from the hypervisor: one gfn, or everything. */
  invalidate(gfn?: number): void;
  /** Walk latency accrued since the last call, ns, for the NIC to add to the DMA's time. */
  takeWalkNs(): number;
}

interface Translation { mfn: number; read: boolean; write: boolean }

/**
 * A DmaPort for one DMA context whose I/O page table is rooted at `rootMfn`. A DMA may
 * cross pages: every page is translated (and checked) before any byte moves, so a refused
 * DMA leaves memory unchanged.
 */
export function iommuDma(mem: DmaMachineMemory, rootMfn: number, opts: IommuDmaOptions = {}): IommuDmaPort {
  if (!Number.isSafeInteger(rootMfn) || rootMfn < 0 || rootMfn >= mem.frames) {
    throw new RangeError(`IOMMU root mfn ${rootMfn} is not a frame of this machine (0..${mem.frames - 1})`);
  }
  const iotlbSize = opts.iotlbSize ?? 64;
  if (!Number.isInteger(iotlbSize) || iotlbSize < 1) throw new RangeError(`iotlbSize must be a positive integer, got ${iotlbSize}`);
  const walkNs = opts.walkNs ?? 0;
  if (!(walkNs >= 0) || !Number.isFinite(walkNs)) throw new RangeError(`walkNs must be a finite number >= 0, got ${walkNs}`);

  // A Map keeps insertion order: re-inserting on a hit makes the first key the LRU one.
  const iotlb = new Map<number, Translation>();
  const stats: IotlbStats = { hits: 0, misses: 0, walks: 0, faults: 0, unchecked: 0, walkNs: 0 };
  const unchecked = opts.unchecked ?? (() => false);
  let pendingWalkNs = 0;

  const fault = (addr: number, len: number, kind: IommuFaultKind, gfn: number, detail: string): never => {
    throw new IommuFault(addr, len, kind, gfn, detail);
  };

  const readPte = (mfn: number, index: number): bigint => mem.read(mfn, index * PTE_SIZE, PTE_SIZE).readBigUInt64LE(0);

  const lookup = (gfn: number, addr: number, len: number): Translation => {
    const hit = iotlb.get(gfn);
    if (hit) {
      stats.hits++;
      iotlb.delete(gfn);
      iotlb.set(gfn, hit);
      return hit;
    }
    stats.misses++;
    stats.walks++;
    stats.walkNs += walkNs;
    pendingWalkNs += walkNs;
    const root = readPte(rootMfn, gfn >> LEVEL_BITS);
    if ((root & BigInt(PTE_P)) === 0n) fault(addr, len, 'not_present', gfn, `gfn ${gfn} has no leaf table`);
    const leafMfn = Number(root >> 12n);
    if (leafMfn >= mem.frames) fault(addr, len, 'bad_table', gfn, `root entry of gfn ${gfn} names mfn ${leafMfn}, beyond memory`);
    const leaf = readPte(leafMfn, gfn % ENTRIES);
    const flags = Number(leaf & 0xfffn);
    if ((flags & PTE_P) === 0) fault(addr, len, 'not_present', gfn, `gfn ${gfn} is not mapped`);
    const mfn = Number((leaf >> 12n) & 0xff_ffff_ffffn);
    if (mfn >= mem.frames) fault(addr, len, 'bad_table', gfn, `gfn ${gfn} maps mfn ${mfn}, beyond memory`);
    // Only present entries are cached, as VT-d caches no not-present entry.
    const t: Translation = { mfn, read: (flags & PTE_R) !== 0, write: (flags & PTE_W) !== 0 };
    iotlb.set(gfn, t);
    if (iotlb.size > iotlbSize) iotlb.delete(iotlb.keys().next().value!);
    return t;
  };

  /** Machine pieces of [addr, addr+len), every page checked for `write` or read access. */
  const translate = (addr: number, len: number, write: boolean): Array<{ mfn: number; off: number; n: number }> => {
    if (!Number.isSafeInteger(addr) || addr < 0) throw new DmaFault(addr, len, 'bad address');
    if (!Number.isSafeInteger(len) || len < 0) throw new DmaFault(addr, len, 'bad length');
    const pieces: Array<{ mfn: number; off: number; n: number }> = [];
    for (let a = addr, left = len; left > 0; ) {
      const gfn = Math.floor(a / PAGE);
      const off = a % PAGE;
      const n = Math.min(left, PAGE - off);
      let mfn: number;
      try {
        if (gfn >= GFN_LIMIT) fault(addr, len, 'out_of_range', gfn, `IOVA 0x${a.toString(16)} beyond the ${GFN_LIMIT}-page I/O space`);
        const t = lookup(gfn, addr, len);
        if (write && !t.write) fault(addr, len, 'write_denied', gfn, `gfn ${gfn} is mapped without write permission`);
        if (!write && !t.read) fault(addr, len, 'read_denied', gfn, `gfn ${gfn} is mapped without read permission`);
        mfn = t.mfn;
      } catch (e) {
        if (!(e instanceof IommuFault) || !unchecked() || gfn >= mem.frames) {
          if (e instanceof IommuFault) stats.faults++;
          throw e;
        }
        stats.unchecked++;
        mfn = gfn;
      }
      pieces.push({ mfn, off, n });
      a += n;
      left -= n;
    }
    return pieces;
  };

  return {
    rootMfn,
    stats,
    read(addr, len) {
      const pieces = translate(addr, len, false);
      if (pieces.length === 0) return Buffer.alloc(0);
      const parts = pieces.map((p) => mem.read(p.mfn, p.off, p.n));
      return parts.length === 1 ? parts[0]! : Buffer.concat(parts, len);
    },
    write(addr, data) {
      const pieces = translate(addr, data.length, true);
      let done = 0;
      for (const p of pieces) {
        mem.write(p.mfn, p.off, data.subarray(done, done + p.n));
        done += p.n;
      }
    },
    invalidate(gfn?: number) {
      if (gfn === undefined) iotlb.clear();
      else iotlb.delete(gfn);
    },
    takeWalkNs() {
      const n = pendingWalkNs;
      pendingWalkNs = 0;
      return n;
    },
  };
}
