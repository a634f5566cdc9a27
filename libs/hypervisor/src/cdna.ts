// CDNA buffer validation (Willmann et al., HPCA 2007; seed 001): a guest owns a queue set
// of a multiqueue NIC, but its descriptor rings sit in frames the hypervisor owns, so the
// guest can only enqueue a buffer through the hypervisor. The hypervisor validates every
// buffer (the guest owns the page), takes an I/O reference on its frame so that ownership
// cannot change while the NIC may use it, and writes the descriptor itself. When the NIC has
// written a descriptor back, the guest asks the hypervisor to complete it: the reference is
// dropped and the buffer (from the hypervisor's own record) is handed back.
//
// Descriptors are libs/nic's format (libs/nic/src/descriptor.ts), 16 bytes little endian:
//   read format (written here):  addr u64 @0 (mfn*4096+offset), len u16 @8, flags u16 @10
//                                (DESC_EOP on a frame's last TX buffer), status u16 @12 = 0
//   writeback (written by NIC):  doneNs f64 @0, len u16 @8 (RX: frame length), flags u16 @10,
//                                status u16 @12 (DESC_DD done, DESC_ERR the DMA was refused)
// A completed slot is zeroed: a guest that rings its doorbell past the tail the hypervisor
// returned makes the NIC read a zero-length descriptor, never a stale or forged address.
import { PAGE_SIZE } from '@vnetlab/memory';
import {
  DOMID_XEN, FRAME_FREE, INVALID_MFN, XEN_EAGAIN, XEN_EINVAL, XEN_ENOSPC, XEN_EPERM, XEN_ESRCH, XEN_OK,
} from './constants.js';
import { HypervisorError } from './errors.js';
import type { HypervisorCore } from './hypervisor_core.js';
import { charges, price } from './charges.js';

export const CDNA_DESC_SIZE = 16;
export const CDNA_DESC_EOP = 1;
export const CDNA_DESC_DD = 1;
export const CDNA_DESC_ERR = 2;
const STATUS_OFFSET = 12;
/** Rings fit one frame each: at most 4096 / 16 descriptors. */
export const CDNA_MAX_RING_SIZE = PAGE_SIZE / CDNA_DESC_SIZE;

export type CdnaRing = 'tx' | 'rx';

/**
 * A buffer a guest enqueues: its own page by `gfn`, or (as a PV guest's driver does) by
 * machine frame `mfn` — exactly one of them. `more` (TX only): the frame continues in the
 * next buffer, so this descriptor gets no EOP.
 */
export interface CdnaBuffer { gfn?: number; mfn?: number; offset: number; len: number; more?: boolean }

export interface CdnaQueueSetInfo {
  qs: number;
  domid: number;
  size: number;
  txRingMfn: number;
  rxRingMfn: number;
  /** What Nic.configureQueueSet needs: machine byte addresses of the rings. */
  txRingAddr: number;
  rxRingAddr: number;
}

export interface CdnaEnqueueResult {
  /** XEN_OK; the first refusal's status (a buffer was refused); XEN_ENOSPC if the ring filled first. */
  status: number;
  /** The ring's new tail, for the guest's doorbell. */
  tail: number;
  /** Buffers written to the ring, in order. */
  accepted: number;
  /** Buffers refused (a bad buffer, or a TX frame with a bad buffer in it). */
  refused: number;
  /** Buffers examined (accepted + refused): the cdna_validate count in `cycles`. */
  validated: number;
  cycles: number;
}

export interface CdnaCompletedBuffer {
  /** The buffer as the guest enqueued it (from the hypervisor's record, not the ring). */
  gfn?: number;
  mfn: number;
  offset: number;
  len: number;
  /** From the writeback: RX the frame length, TX the length sent. */
  doneLen: number;
  /** Modelled time the NIC finished with it. */
  doneNs: number;
  /** False if the NIC could not use the buffer (DESC_ERR). */
  ok: boolean;
}

export interface CdnaCompleteResult { status: number; buffers: CdnaCompletedBuffer[]; cycles: number }

interface Slot { gfn?: number; mfn: number; offset: number; len: number }

interface RingState {
  mfn: number;
  /** Next slot the hypervisor writes. */
  tail: number;
  /** Next slot to complete. */
  clean: number;
  slots: Array<Slot | undefined>;
}

interface QueueSet { qs: number; domid: number; size: number; tx: RingState; rx: RingState }

type Checked = { slot: Slot } | { status: number; kind: 'cdna_foreign_buffer' | 'cdna_bad_buffer'; detail: string };

function isInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v);
}

/** The queue sets guests own and the buffers enqueued on them. */
export class Cdna {
  private readonly qsets = new Map<number, QueueSet>();

  constructor(private readonly core: HypervisorCore) {}

  /**
   * Gives queue set `qs` (an id the host chooses, e.g. the NIC's queue-set index) to `domid`:
   * allocates and zeroes a hypervisor-owned frame for each ring. Host API: throws on misuse.
   */
  attach(domid: number, setup: { qs: number; size?: number }): CdnaQueueSetInfo {
    if (!this.core.p2m(domid)) throw new HypervisorError('bad_domain', `no domain ${domid}`);
    const { qs } = setup;
    const size = setup.size ?? 256;
    if (!isInt(qs) || qs < 0) throw new HypervisorError('bad_argument', `queue set ${String(qs)} is not a non-negative integer`);
    if (this.qsets.has(qs)) throw new HypervisorError('busy', `queue set ${qs} is already attached to dom${this.qsets.get(qs)!.domid}`);
    if (!isInt(size) || size < 2 || (size & (size - 1)) !== 0 || size > CDNA_MAX_RING_SIZE) {
      throw new HypervisorError('bad_argument', `ring size must be a power of two in 2..${CDNA_MAX_RING_SIZE}, got ${String(size)}`);
    }
    const [txMfn, rxMfn] = this.core.frameTable.allocate(DOMID_XEN, 2);
    for (const mfn of [txMfn!, rxMfn!]) this.core.mem.write(mfn, 0, Buffer.alloc(PAGE_SIZE));
    const ring = (mfn: number): RingState => ({ mfn, tail: 0, clean: 0, slots: new Array<Slot | undefined>(size).fill(undefined) });
    this.qsets.set(qs, { qs, domid, size, tx: ring(txMfn!), rx: ring(rxMfn!) });
    return this.info(qs)!;
  }

  /**
   * Takes the queue set back (the host has reset it on the NIC, so no DMA is in flight):
   * drops the references of every buffer still enqueued and frees the ring frames.
   */
  detach(qs: number): void {
    const q = this.qsets.get(qs);
    if (!q) throw new HypervisorError('bad_argument', `queue set ${qs} is not attached`);
    for (const r of [q.tx, q.rx]) {
      for (const s of r.slots) if (s) this.core.frameTable.putRef(s.mfn);
      this.core.frameTable.free(r.mfn);
    }
    this.qsets.delete(qs);
  }

  detachDomain(domid: number): void {
    for (const q of [...this.qsets.values()]) if (q.domid === domid) this.detach(q.qs);
  }

  info(qs: number): CdnaQueueSetInfo | undefined {
    const q = this.qsets.get(qs);
    if (!q) return undefined;
    return {
      qs, domid: q.domid, size: q.size, txRingMfn: q.tx.mfn, rxRingMfn: q.rx.mfn,
      txRingAddr: q.tx.mfn * PAGE_SIZE, rxRingAddr: q.rx.mfn * PAGE_SIZE,
    };
  }

  /** Buffers enqueued and not yet completed on one ring. */
  outstanding(qs: number, ring: CdnaRing): number {
    const q = this.qsets.get(qs);
    if (!q || (ring !== 'tx' && ring !== 'rx')) return 0;
    const r = q[ring];
    return (r.tail - r.clean + q.size) % q.size;
  }

  /**
   * Validates and enqueues buffers, in order. Each buffer must be in a page the caller owns
   * (by gfn through its p2m, or by mfn) and lie within that page. A refused buffer is
   * recorded and nothing is written for it; for TX, the whole frame it belongs to is
   * refused, so the NIC never sees half a frame. Stops when the ring is full.
   * Cycles: one hypercall + one cdna_validate per buffer examined.
   */
  enqueue(caller: number, qs: number, ring: CdnaRing, bufs: CdnaBuffer[]): CdnaEnqueueResult {
    const { costs } = this.core;
    const hypercall = costs.cycles('hypercall');
    const q = this.qsets.get(qs);
    const fail = (status: number, kind: 'cdna_bad_queue' | 'cdna_bad_buffer', detail: string): CdnaEnqueueResult => ({
      status: this.core.refuse(caller, status, kind, detail), tail: q && (ring === 'tx' || ring === 'rx') ? q[ring].tail : 0,
      accepted: 0, refused: 0, validated: 0, cycles: hypercall,
    });
    if (!q || q.domid !== caller) return fail(XEN_ESRCH, 'cdna_bad_queue', `dom${caller} does not own queue set ${String(qs)}`);
    if (ring !== 'tx' && ring !== 'rx') return fail(XEN_EINVAL, 'cdna_bad_queue', `ring ${String(ring)} is not tx or rx`);
    if (!Array.isArray(bufs)) return fail(XEN_EINVAL, 'cdna_bad_buffer', 'buffers is not a list');
    const r = q[ring];

    let status = XEN_OK;
    let accepted = 0;
    let refused = 0;
    let examined = 0;
    let i = 0;
    while (i < bufs.length) {
      // One unit: an RX buffer, or a TX frame (buffers up to the first without `more`).
      let end = i;
      if (ring === 'tx') while (end < bufs.length - 1 && bufs[end]?.more === true) end++;
      const unit = bufs.slice(i, end + 1);
      if (unit.length > q.size - 1) {
        for (let k = 0; k < unit.length; k++) this.core.refuse(caller, XEN_EINVAL, 'cdna_bad_buffer', `a frame of ${unit.length} buffers never fits a ${q.size}-slot ring`);
        if (status === XEN_OK) status = XEN_EINVAL;
        examined += unit.length;
        refused += unit.length;
        i = end + 1;
        continue;
      }
      const free = q.size - 1 - (r.tail - r.clean + q.size) % q.size;
      if (unit.length > free) {
        if (status === XEN_OK) status = XEN_ENOSPC;
        break;
      }
      examined += unit.length;
      const checked = unit.map((b) => this.check(caller, b, ring));
      if (ring === 'tx' && unit[unit.length - 1]?.more === true) {
        checked[checked.length - 1] = { status: XEN_EINVAL, kind: 'cdna_bad_buffer', detail: 'the last buffer of the request has more set: its frame has no end' };
      }
      const bad = checked.filter((c): c is Exclude<Checked, { slot: Slot }> => !('slot' in c));
      if (bad.length > 0) {
        for (const b of bad) {
          this.core.refuse(caller, b.status, b.kind, b.detail);
          if (status === XEN_OK || status === XEN_ENOSPC) status = b.status;
        }
        refused += unit.length;
      } else {
        checked.forEach((c, k) => this.write(q, r, (c as { slot: Slot }).slot, ring === 'tx' && k === unit.length - 1 ? CDNA_DESC_EOP : 0));
        accepted += unit.length;
      }
      i = end + 1;
    }
    return { status, tail: r.tail, accepted, refused, validated: examined, cycles: price(costs, charges.cdnaEnqueue(examined)) };
  }

  /**
   * Completes the next `count` descriptors of a ring, which the NIC must have written back
   * (DD set, and done by `tNs` if given): drops their references and returns their buffers.
   * All or nothing: if one is not done, none is completed.
   * Cycles: one hypercall + one cdna_complete per completed buffer.
   */
  complete(caller: number, qs: number, ring: CdnaRing, count: number, tNs?: number): CdnaCompleteResult {
    const { costs } = this.core;
    const hypercall = costs.cycles('hypercall');
    const fail = (status: number, kind: 'cdna_bad_queue' | 'cdna_bad_buffer' | 'cdna_not_done', detail: string): CdnaCompleteResult => ({
      status: this.core.refuse(caller, status, kind, detail), buffers: [], cycles: hypercall,
    });
    const q = this.qsets.get(qs);
    if (!q || q.domid !== caller) return fail(XEN_ESRCH, 'cdna_bad_queue', `dom${caller} does not own queue set ${String(qs)}`);
    if (ring !== 'tx' && ring !== 'rx') return fail(XEN_EINVAL, 'cdna_bad_queue', `ring ${String(ring)} is not tx or rx`);
    const r = q[ring];
    const pending = (r.tail - r.clean + q.size) % q.size;
    if (!isInt(count) || count < 1 || count > pending) {
      return fail(XEN_EINVAL, 'cdna_bad_buffer', `count ${String(count)}: queue set ${qs} ${ring} has ${pending} buffers enqueued`);
    }
    if (tNs !== undefined && (typeof tNs !== 'number' || !Number.isFinite(tNs) || tNs < 0)) {
      return fail(XEN_EINVAL, 'cdna_bad_buffer', `tNs ${String(tNs)} is not a time`);
    }
    // One read of each writeback; every check below looks at this copy.
    const wbs: Array<{ doneNs: number; len: number; status: number }> = [];
    for (let k = 0; k < count; k++) {
      const idx = (r.clean + k) % q.size;
      const b = this.core.mem.read(r.mfn, idx * CDNA_DESC_SIZE, CDNA_DESC_SIZE);
      const wb = { doneNs: b.readDoubleLE(0), len: b.readUInt16LE(8), status: b.readUInt16LE(STATUS_OFFSET) };
      const done = (wb.status & CDNA_DESC_DD) !== 0 && (tNs === undefined || (Number.isFinite(wb.doneNs) && wb.doneNs <= tNs));
      if (!done) {
        return fail(XEN_EAGAIN, 'cdna_not_done', `queue set ${qs} ${ring} slot ${idx} is not done by the NIC${tNs === undefined ? '' : ` at ${tNs} ns`}`);
      }
      wbs.push(wb);
    }
    const buffers: CdnaCompletedBuffer[] = [];
    for (let k = 0; k < count; k++) {
      const idx = r.clean;
      const s = r.slots[idx]!;
      this.core.frameTable.putRef(s.mfn);
      r.slots[idx] = undefined;
      this.core.mem.write(r.mfn, idx * CDNA_DESC_SIZE, Buffer.alloc(CDNA_DESC_SIZE));
      r.clean = (r.clean + 1) % q.size;
      const wb = wbs[k]!;
      buffers.push({
        ...(s.gfn !== undefined ? { gfn: s.gfn } : {}), mfn: s.mfn, offset: s.offset, len: s.len,
        doneLen: wb.len, doneNs: wb.doneNs, ok: (wb.status & CDNA_DESC_ERR) === 0,
      });
    }
    return { status: XEN_OK, buffers, cycles: price(costs, charges.cdnaComplete(count)) };
  }

  /**
   * How many descriptors, from the next one to complete on, the NIC has written back and
   * finished by tNs (the guest's view of its ring, which it may read but not write).
   */
  doneCount(qs: number, ring: CdnaRing, tNs: number): number {
    const q = this.qsets.get(qs);
    if (!q || (ring !== 'tx' && ring !== 'rx')) return 0;
    const r = q[ring];
    const pending = (r.tail - r.clean + q.size) % q.size;
    let n = 0;
    for (; n < pending; n++) {
      const b = this.core.mem.read(r.mfn, ((r.clean + n) % q.size) * CDNA_DESC_SIZE, CDNA_DESC_SIZE);
      const doneNs = b.readDoubleLE(0);
      if ((b.readUInt16LE(STATUS_OFFSET) & CDNA_DESC_DD) === 0 || !(doneNs <= tNs)) break;
    }
    return n;
  }

  // ------------------------------------------------------------------ inside

  /** The validation of one buffer: a copy of its fields, checked once. */
  private check(caller: number, b: CdnaBuffer, ring: CdnaRing): Checked {
    const bad = (detail: string): Checked => ({ status: XEN_EINVAL, kind: 'cdna_bad_buffer', detail });
    if (typeof b !== 'object' || b === null) return bad('missing buffer');
    const { gfn, mfn: byMfn, offset, len } = b;
    const hasGfn = gfn !== undefined && gfn !== null;
    const hasMfn = byMfn !== undefined && byMfn !== null;
    if (hasGfn === hasMfn) return bad('a buffer names exactly one of gfn and mfn');
    if (!isInt(offset) || !isInt(len) || offset < 0 || len <= 0 || offset + len > PAGE_SIZE) {
      return bad(`offset ${String(offset)} + len ${String(len)} outside a ${PAGE_SIZE}-byte page`);
    }
    let mfn: number;
    if (hasGfn) {
      const p2m = this.core.p2m(caller) ?? [];
      if (!isInt(gfn) || gfn < 0 || gfn >= p2m.length || p2m[gfn] === INVALID_MFN) {
        return bad(`gfn ${String(gfn)} has no frame in dom${caller}`);
      }
      mfn = p2m[gfn]!;
    } else {
      if (!this.core.frameTable.valid(byMfn as number)) return bad(`mfn ${String(byMfn)} is not a frame of this machine`);
      mfn = byMfn as number;
    }
    const owner = this.core.frameTable.owner(mfn);
    // RX buffers are written by the NIC: they must be the caller's own RAM, never a frame of
    // Xen's (grant tables, rings, I/O page tables), whatever the protection switch says.
    if (owner === FRAME_FREE || (ring === 'rx' && owner === DOMID_XEN) || (this.core.protection() && owner !== caller)) {
      return {
        status: XEN_EPERM, kind: 'cdna_foreign_buffer',
        detail: `dom${caller} ${ring} buffer ${hasGfn ? `gfn ${gfn} (mfn ${mfn})` : `mfn ${mfn}`} is owned by ${owner}`,
      };
    }
    return { slot: { ...(hasGfn ? { gfn: gfn as number } : {}), mfn, offset, len } };
  }

  private write(q: QueueSet, r: RingState, s: Slot, flags: number): void {
    this.core.frameTable.getRef(s.mfn);
    const d = Buffer.alloc(CDNA_DESC_SIZE);
    d.writeBigUInt64LE(BigInt(s.mfn * PAGE_SIZE + s.offset), 0);
    d.writeUInt16LE(s.len, 8);
    d.writeUInt16LE(flags, 10);
    this.core.mem.write(r.mfn, r.tail * CDNA_DESC_SIZE, d);
    r.slots[r.tail] = s;
    r.tail = (r.tail + 1) % q.size;
  }
}
