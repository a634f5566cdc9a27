import { skbZerocopyDone, type SkBuff, type SkbFrag } from '@vnetlab/frames';
import type { GuestMemory, PagePool } from '@vnetlab/memory';
import { DESC_DD, DESC_EOP, DESC_ERR, DESC_SIZE, DESC_STATUS_OFFSET, DESC_TX_CSUM, DESC_TX_TSO, decodeWriteback, encodeDescriptor, type DescriptorWriteback } from './descriptor.js';
import { NicError } from './nic_error.js';

const PAGE = 4096;

export interface NicDriverOptions {
  /** The memory of the domain the driver runs in. */
  mem: GuestMemory;
  /** Pages the driver may use for rings, RX buffers and TX copies. */
  pool: PagePool;
  /** Descriptors per ring: a power of two, at most 256 so a ring fits one page. */
  size?: number;
  /** Bytes of each posted RX buffer (one per page, at offset 0). */
  rxBufferBytes?: number;
  /**
   * What the NIC does for the driver (the netdev features it sets): checksum insertion and
   * TCP segmentation. A checksum-partial skb gets DESC_TX_CSUM, a GSO skb DESC_TX_TSO; the
   * stack must have done the work in software for what the NIC lacks. Default: neither.
   */
  offload?: { csum?: boolean; tso?: boolean };
}

export interface RingSetup {
  txRingAddr: number;
  rxRingAddr: number;
  size: number;
}

export interface TransmitResult {
  /** The new TX tail, for the doorbell. */
  tail: number;
  /** Frames put on the ring. */
  queued: number;
  /** Descriptors written (a copied frame over a page boundary takes several). */
  descriptors: number;
  /** Bytes copied into driver buffers (the caller charges copy_byte for them). */
  copiedBytes: number;
  /** Frames that did not fit (ring full or no free page), in order; the caller keeps them. */
  rejected: SkBuff[];
}

export interface InterruptResult {
  /** TX descriptors completed. */
  txCompleted: number;
  /** TX descriptors the NIC completed with an error (a refused DMA). */
  txErrors: number;
  /** Pages of zero-copy frames the NIC no longer needs: their owner may recycle them. */
  freedGfns: number[];
  /** Received frames; each skb's page now belongs to the caller (give it back to the pool). */
  rx: SkBuff[];
  /** RX descriptors the NIC completed with an error; their buffers were reposted. */
  rxErrors: number;
  /** The new RX tail after reposting, for the doorbell. */
  rxTail: number;
  /**
   * TX descriptors the NIC has written back but that complete after this interrupt's time
   * (the wire is still sending them in modelled time): a later interrupt reclaims them.
   */
  txPendingAfter: number;
  /** RX descriptors written back with a DMA time after this interrupt's: a later interrupt takes them. */
  rxPendingAfter: number;
}

interface TxSlot {
  /** A driver bounce page, back to the pool on completion. */
  bounceGfn?: number;
  /** The caller's pages, handed back on completion (on the frame's last slot). */
  callerGfns?: number[];
  /** The frame (on its last slot): what is lost if the NIC never sends it. */
  skb?: SkBuff;
}

/**
 * The driver of one queue set of a Nic, in the domain that owns the queue set (the
 * driver domain, or a guest under cdna/passthrough). It owns the descriptor rings and
 * the RX buffers in its domain's memory; machine addresses are mfnOf(gfn) * 4096 + offset.
 */
export class NicDriver {
  readonly size: number;
  readonly rxBufferBytes: number;
  readonly offload: { csum: boolean; tso: boolean };
  private readonly mem: GuestMemory;
  private readonly pool: PagePool;
  private txRingGfn = -1;
  private rxRingGfn = -1;
  private txTail = 0;
  private txClean = 0;
  private rxTail = 0;
  private rxClean = 0;
  private readonly txSlots: Array<TxSlot | undefined>;
  private readonly rxSlots: Array<number | undefined>; // gfn of the posted buffer

  constructor(opts: NicDriverOptions) {
    const size = opts.size ?? 256;
    if (!Number.isInteger(size) || size < 2 || (size & (size - 1)) !== 0 || size * DESC_SIZE > PAGE) {
      throw new NicError('bad_config', `ring size must be a power of two in 2..${PAGE / DESC_SIZE}, got ${size}`);
    }
    const rxBufferBytes = opts.rxBufferBytes ?? 2048;
    if (!Number.isInteger(rxBufferBytes) || rxBufferBytes < 64 || rxBufferBytes > PAGE) {
      throw new NicError('bad_config', `rxBufferBytes must be an integer in 64..${PAGE}, got ${rxBufferBytes}`);
    }
    this.size = size;
    this.rxBufferBytes = rxBufferBytes;
    this.offload = { csum: opts.offload?.csum === true, tso: opts.offload?.tso === true };
    this.mem = opts.mem;
    this.pool = opts.pool;
    this.txSlots = new Array<TxSlot | undefined>(size).fill(undefined);
    this.rxSlots = new Array<number | undefined>(size).fill(undefined);
  }

  /** Allocates and zeroes the two ring pages; returns what Nic.configureQueueSet needs. */
  setup(): RingSetup {
    if (this.txRingGfn >= 0) throw new NicError('bad_config', 'driver is already set up');
    const tx = this.takePage('TX ring');
    const rx = this.pool.take();
    if (rx === undefined) {
      this.pool.give(tx);
      throw new NicError('out_of_pages', 'no free page for the RX ring');
    }
    this.mem.write(tx, 0, Buffer.alloc(PAGE));
    this.mem.write(rx, 0, Buffer.alloc(PAGE));
    this.txRingGfn = tx;
    this.rxRingGfn = rx;
    return { txRingAddr: this.machineAddr(tx, 0), rxRingAddr: this.machineAddr(rx, 0), size: this.size };
  }

  /** Fills every free RX slot with an empty buffer; returns the new RX tail. */
  postRxBuffers(): number {
    this.checkSetUp();
    while ((this.rxTail + 1) % this.size !== this.rxClean) {
      const slot = this.rxTail;
      let gfn = this.rxSlots[slot];
      if (gfn === undefined) {
        gfn = this.pool.take();
        if (gfn === undefined) break; // out of pages: post what we have
        this.rxSlots[slot] = gfn;
      }
      const desc = encodeDescriptor({ addr: this.machineAddr(gfn, 0), len: this.rxBufferBytes, flags: 0, status: 0 });
      this.mem.write(this.rxRingGfn, slot * DESC_SIZE, desc);
      this.rxTail = (slot + 1) % this.size;
    }
    return this.rxTail;
  }

  /**
   * Puts frames on the TX ring. A frame whose bytes sit in a page of this domain
   * (`skb.page`), or in pieces of its pages (`skb.frags`, one descriptor each), is sent from
   * there without a copy; any other frame is copied into driver pages. A GSO skb's first
   * descriptor asks the NIC for TSO with its MSS, a checksum-partial one for checksum
   * insertion. Returns the new tail for the doorbell.
   */
  transmit(skbs: SkBuff[], tNs: number): TransmitResult {
    this.checkSetUp();
    checkTime(tNs);
    for (const skb of skbs) this.checkSkb(skb);
    const result: TransmitResult = { tail: this.txTail, queued: 0, descriptors: 0, copiedBytes: 0, rejected: [] };
    let i = 0;
    for (; i < skbs.length; i++) {
      const skb = skbs[i]!;
      const offload = skb.gso ? { flags: DESC_TX_TSO, mss: skb.gso.size } : skb.csumPartial && this.offload.csum ? { flags: DESC_TX_CSUM } : undefined;
      const zeroCopy = skb.page !== undefined && skb.page.offset + skb.bytes.length <= PAGE;
      const frags = skb.frags;
      const need = frags ? frags.length : zeroCopy ? 1 : Math.ceil(skb.bytes.length / PAGE);
      if (need > this.txFree()) break;
      if (frags) {
        frags.forEach((f, k) => {
          const last = k === frags.length - 1;
          // a foreign frame (a guest's, granted for DMA) is never the caller's page to recycle
          this.putTx(this.fragAddr(f), f.len, last, last ? { callerGfns: [...new Set(frags.filter((x) => x.mfn === undefined).map((x) => x.gfn))] } : {}, k === 0 ? offload : undefined);
        });
      } else if (zeroCopy) {
        this.putTx(this.machineAddr(skb.page!.gfn, skb.page!.offset), skb.bytes.length, true, { callerGfns: [skb.page!.gfn] }, offload);
      } else {
        const pages: number[] = [];
        for (let k = 0; k < need; k++) {
          const g = this.pool.take();
          if (g === undefined) break;
          pages.push(g);
        }
        if (pages.length < need) {
          for (const g of pages) this.pool.give(g);
          break;
        }
        for (let k = 0; k < need; k++) {
          const chunk = skb.bytes.subarray(k * PAGE, Math.min((k + 1) * PAGE, skb.bytes.length));
          this.mem.write(pages[k]!, 0, chunk);
          const last = k === need - 1;
          const slot: TxSlot = { bounceGfn: pages[k]! };
          if (last && skb.page) slot.callerGfns = [skb.page.gfn];
          this.putTx(this.machineAddr(pages[k]!, 0), chunk.length, last, slot, k === 0 ? offload : undefined);
        }
        result.copiedBytes += skb.bytes.length;
      }
      this.txSlots[(this.txTail - 1 + this.size) % this.size]!.skb = skb;
      result.queued++;
      result.descriptors += need;
    }
    result.rejected = skbs.slice(i);
    result.tail = this.txTail;
    return result;
  }

  /**
   * The queue set's interrupt at modelled time tNs: reclaims completed TX descriptors, takes
   * received frames, and reposts RX buffers. A descriptor is taken only when the NIC wrote
   * it back (DD) with a completion time <= tNs; the first one not done by tNs stops its
   * ring, and it and those after it wait for a later interrupt (the NIC owes one at or after
   * each completion). Buffers come from the driver's own slot records, never from the
   * descriptor's address field, which the writeback overwrote.
   */
  onInterrupt(tNs: number): InterruptResult {
    this.checkSetUp();
    checkTime(tNs);
    const out: InterruptResult = {
      txCompleted: 0,
      txErrors: 0,
      freedGfns: [],
      rx: [],
      rxErrors: 0,
      rxTail: this.rxTail,
      txPendingAfter: 0,
      rxPendingAfter: 0,
    };

    if (this.txClean !== this.txTail) {
      const ring = this.mem.read(this.txRingGfn, 0, this.size * DESC_SIZE);
      while (this.txClean !== this.txTail) {
        const wb = decodeWriteback(ring, this.txClean * DESC_SIZE);
        const state = doneBy(wb, tNs);
        if (state === 'not_yet') break;
        if (state === 'corrupt' || (wb.status & DESC_ERR) !== 0) out.txErrors++;
        const slot = this.txSlots[this.txClean];
        if (slot?.bounceGfn !== undefined) this.pool.give(slot.bounceGfn);
        if (slot?.callerGfns !== undefined) out.freedGfns.push(...slot.callerGfns);
        if (slot?.skb) skbZerocopyDone(slot.skb); // the guest's frames it was sent from are free again
        this.txSlots[this.txClean] = undefined;
        this.txClean = (this.txClean + 1) % this.size;
        out.txCompleted++;
      }
      out.txPendingAfter = this.writtenBack(ring, this.txClean, this.txTail);
    }

    if (this.rxClean !== this.rxTail) {
      const ring = this.mem.read(this.rxRingGfn, 0, this.size * DESC_SIZE);
      while (this.rxClean !== this.rxTail) {
        const wb = decodeWriteback(ring, this.rxClean * DESC_SIZE);
        const state = doneBy(wb, tNs);
        if (state === 'not_yet') break;
        const gfn = this.rxSlots[this.rxClean]!;
        if (state === 'corrupt' || (wb.status & DESC_ERR) !== 0 || (wb.flags & DESC_EOP) === 0 || wb.len > this.rxBufferBytes) {
          out.rxErrors++; // keep the page: postRxBuffers reposts it
        } else {
          // Never earlier than the DMA that put the frame in the buffer.
          out.rx.push({ bytes: this.mem.read(gfn, 0, wb.len), tNs: Math.max(tNs, wb.doneNs), page: { gfn, offset: 0 } });
          this.rxSlots[this.rxClean] = undefined; // the page goes up with the skb
        }
        this.rxClean = (this.rxClean + 1) % this.size;
      }
      out.rxPendingAfter = this.writtenBack(ring, this.rxClean, this.rxTail);
    }

    out.rxTail = this.postRxBuffers();
    return out;
  }

  /**
   * Gives up every TX descriptor the NIC has not completed (it died: nothing more on its ring
   * will be sent). A descriptor it wrote back before it died was sent (or refused, and counted,
   * by the NIC itself), even if no interrupt told the driver: only the others are lost.
   * Returns the frames lost and the caller's pages to hand back; the ring is empty.
   */
  abandonTx(): { lost: SkBuff[]; freedGfns: number[] } {
    this.checkSetUp();
    const out = { lost: [] as SkBuff[], freedGfns: [] as number[] };
    const ring = this.txClean !== this.txTail ? this.mem.read(this.txRingGfn, 0, this.size * DESC_SIZE) : undefined;
    for (; this.txClean !== this.txTail; this.txClean = (this.txClean + 1) % this.size) {
      const slot = this.txSlots[this.txClean];
      if (slot?.bounceGfn !== undefined) this.pool.give(slot.bounceGfn);
      if (slot?.callerGfns !== undefined) out.freedGfns.push(...slot.callerGfns);
      if (slot?.skb) {
        skbZerocopyDone(slot.skb); // done with, sent or not: its foreign frames go back to their owner
        const sent = (decodeWriteback(ring!, this.txClean * DESC_SIZE).status & DESC_DD) !== 0;
        if (!sent) out.lost.push(slot.skb);
      }
      this.txSlots[this.txClean] = undefined;
    }
    return out;
  }

  /**
   * The device was replaced (a NIC that died and came back knows nothing of the rings): the
   * driver starts over as at set-up — what was on the TX ring is lost (returned, as
   * abandonTx), the RX buffers stay its own and are posted again from slot 0, both rings are
   * zeroed and their indexes are 0. The ring pages do not move: the caller configures the
   * NIC with the same RingSetup, then posts RX buffers.
   */
  reset(): { lost: SkBuff[]; freedGfns: number[]; rings: RingSetup } {
    const r = this.abandonTx();
    const buffers = this.rxSlots.filter((g): g is number => g !== undefined);
    this.rxSlots.fill(undefined);
    buffers.forEach((g, i) => (this.rxSlots[i] = g));
    this.mem.write(this.txRingGfn, 0, Buffer.alloc(PAGE));
    this.mem.write(this.rxRingGfn, 0, Buffer.alloc(PAGE));
    this.txTail = this.txClean = this.rxTail = this.rxClean = 0;
    return { ...r, rings: { txRingAddr: this.machineAddr(this.txRingGfn, 0), rxRingAddr: this.machineAddr(this.rxRingGfn, 0), size: this.size } };
  }

  /** The ring tails the driver last wrote (what its doorbells carry). */
  tails(): { tx: number; rx: number } {
    return { tx: this.txTail, rx: this.rxTail };
  }

  /** Free TX descriptors (one slot always stays empty, as in e1000). */
  txFree(): number {
    return this.size - 1 - ((this.txTail - this.txClean + this.size) % this.size);
  }

  /** RX buffers currently posted to the NIC. */
  rxPosted(): number {
    return (this.rxTail - this.rxClean + this.size) % this.size;
  }

  /**
   * Descriptors from `from` on that the NIC has written back (DD set), for the pending counts.
   * A NIC writes a ring back in ring order, so the first one without DD ends the run: the scan
   * stops there instead of reading every posted buffer's descriptor on each interrupt.
   */
  private writtenBack(ring: Buffer, from: number, to: number): number {
    let n = 0;
    for (let i = from; i !== to; i = (i + 1) % this.size, n++) {
      if ((ring.readUInt16LE(i * DESC_SIZE + DESC_STATUS_OFFSET) & DESC_DD) === 0) break;
    }
    return n;
  }

  private putTx(addr: number, len: number, eop: boolean, slot: TxSlot, offload?: { flags: number; mss?: number }): void {
    const desc = encodeDescriptor({ addr, len, flags: (eop ? DESC_EOP : 0) | (offload?.flags ?? 0), status: 0, ...(offload?.mss !== undefined ? { mss: offload.mss } : {}) });
    this.mem.write(this.txRingGfn, this.txTail * DESC_SIZE, desc);
    this.txSlots[this.txTail] = slot;
    this.txTail = (this.txTail + 1) % this.size;
  }

  private checkSkb(skb: SkBuff): void {
    if (!skb || !Buffer.isBuffer(skb.bytes) || skb.bytes.length === 0) throw new NicError('bad_frame', 'an skb needs a non-empty bytes Buffer');
    if (skb.bytes.length > 0xffff) throw new NicError('bad_frame', `frame of ${skb.bytes.length} bytes is too long`);
    if (skb.gso && !this.offload.tso) throw new NicError('bad_frame', 'a GSO skb needs a NIC with TSO: segment it in software first');
    if (skb.gso && (!Number.isInteger(skb.gso.size) || skb.gso.size < 1 || skb.gso.size > 0xffff)) throw new NicError('bad_frame', `GSO size ${skb.gso.size} is not an MSS`);
    if (skb.frags) {
      if (skb.frags.length === 0 || skb.frags.length > this.size - 1) throw new NicError('bad_frame', `an skb of ${skb.frags.length} fragments cannot go on a ring of ${this.size}`);
      let total = 0;
      for (const f of skb.frags) {
        if (!Number.isInteger(f.offset) || !Number.isInteger(f.len) || f.offset < 0 || f.len < 1 || f.offset + f.len > PAGE) {
          throw new NicError('bad_frame', `fragment ${f.offset}+${f.len} does not lie in one page`);
        }
        this.fragAddr(f); // a gfn outside this domain, or a foreign frame that is no frame number, is refused
        total += f.len;
      }
      if (total !== skb.bytes.length) throw new NicError('bad_frame', `fragments hold ${total} bytes, the frame ${skb.bytes.length}`);
    }
    if (skb.page) {
      const { gfn, offset } = skb.page;
      if (!Number.isInteger(offset) || offset < 0 || offset >= PAGE) throw new NicError('bad_frame', `skb page offset ${offset} is not in 0..4095`);
      this.machineAddr(gfn, offset); // a gfn outside this domain, or without a frame, is refused
    }
  }

  /** A fragment's machine byte address: its own mfn when foreign, else through this domain's p2m. */
  private fragAddr(f: SkbFrag): number {
    if (f.mfn === undefined) return this.machineAddr(f.gfn, f.offset);
    if (!Number.isSafeInteger(f.mfn) || f.mfn < 0) throw new NicError('bad_frame', `foreign fragment mfn ${String(f.mfn)} is not a machine frame`);
    return f.mfn * PAGE + f.offset;
  }

  /** Machine byte address of (gfn, offset) in this domain: what a descriptor holds. */
  private machineAddr(gfn: number, offset: number): number {
    const mfn = this.mem.mfnOf(gfn); // RangeError for a gfn outside the domain
    if (mfn < 0) throw new NicError('bad_frame', `gfn ${gfn} has no machine frame (flipped away?)`);
    return mfn * PAGE + offset;
  }

  private takePage(what: string): number {
    const g = this.pool.take();
    if (g === undefined) throw new NicError('out_of_pages', `no free page for the ${what}`);
    return g;
  }

  private checkSetUp(): void {
    if (this.txRingGfn < 0) throw new NicError('not_set_up', 'call setup() first');
  }
}

/**
 * Whether a descriptor is done by tNs: not written back or completing later is 'not_yet';
 * a writeback with a time that is not a finite number >= 0 is 'corrupt' and is taken as
 * an error, so a bad writeback cannot stall the ring.
 */
function doneBy(wb: DescriptorWriteback, tNs: number): 'done' | 'not_yet' | 'corrupt' {
  if ((wb.status & DESC_DD) === 0) return 'not_yet';
  if (!Number.isFinite(wb.doneNs) || wb.doneNs < 0) return 'corrupt';
  return wb.doneNs <= tNs ? 'done' : 'not_yet';
}

function checkTime(tNs: number): void {
  if (typeof tNs !== 'number' || !Number.isFinite(tNs) || tNs < 0) throw new NicError('bad_time', `tNs must be a finite number >= 0, got ${String(tNs)}`);
}
