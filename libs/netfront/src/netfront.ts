import type { Cpu, Primitive } from '@vnetlab/cost';
import type { GrantTableWriter } from '@vnetlab/hypervisor';
import { PAGE_SIZE, type GuestMemory, type PagePool } from '@vnetlab/memory';
import {
  FrontRing, initSharedRing, NETIF_RSP_NULL, NETIF_RSP_OKAY, NETTXF_csum_blank, NETTXF_data_validated, NETTXF_extra_info, NETTXF_more_data,
  XEN_NETIF_EXTRA_TYPE_GSO, XEN_NETIF_GSO_TYPE_TCPV4, extraInfoAsTxRequest,
  rxRequestCodec, rxResponseCodec, txRequestCodec, txResponseCodec,
  type NetifRxRequest, type NetifRxResponse, type NetifTxRequest, type NetifTxResponse,
} from '@vnetlab/ring';
import { NetfrontError } from './errors.js';
import { GNTTAB_NR_RESERVED_ENTRIES, GrefAllocator } from './gref_allocator.js';
import { guestRingPage } from './guest_ring_page.js';

export type RxMode = 'copy' | 'flip';

/**
 * The one hypercall netfront makes itself: in flip mode, placing a frame the backend
 * transferred to us at the gfn of the buffer we posted (the p2m update plus giving back the
 * frame that was there, as Xen's netfront does with mmu_update and decrease_reservation).
 * The app binds it to the hypervisor; tests call Hypervisor.acceptTransfer.
 */
export interface FrontendHypervisorPort {
  acceptTransfer(gref: number, gfn: number, tNs: number): Promise<{ status: number; mfn: number; cycles: number }>;
}

export interface NetfrontOptions {
  mem: GuestMemory;
  grants: GrantTableWriter;
  backendDomid: number;
  rxMode: RxMode;
  /** The guest's free pages: ring pages, TX buffers and RX buffers come from here. */
  pages: PagePool;
  cpu: Cpu;
  /** Domain name charged on the ledger (e.g. 'guest1'). */
  domain: string;
  /** Required when rxMode is 'flip'. */
  hv?: FrontendHypervisorPort;
  /** First gref netfront may use (default 8: the reserved entries stay free). */
  grefBase?: number;
  /** RX buffers kept posted (at most the RX ring size). Default: half of the pool's pages
   * left after the two ring pages, so that transmit keeps pages too. */
  rxBuffers?: number;
  /** Frames that may wait for a TX slot (default 1000, Linux's tx_queue_len). */
  txQueueLen?: number;
}

export interface NetfrontStats {
  txPackets: number; txBytes: number; txErrors: number;
  rxPackets: number; rxBytes: number; rxErrors: number;
  /** Frames not sent or not received, by reason. */
  drops: Record<string, number>;
  /** Misbehaviour seen on the rings, by reason. */
  errors: Record<string, number>;
}

export interface TransmitResult {
  /** pushRequests' answer: send the event-channel notification only when true. */
  notify: boolean;
  tNs: number;
  /** Set when the frame was queued because the ring (or buffer pages) ran out. */
  queued?: boolean;
  /** Set when the frame was dropped, with the reason. */
  drop?: string;
}

export interface EventResult {
  frames: Array<{ bytes: Buffer; tNs: number }>;
  notify: boolean;
  tNs: number;
}

/** One data slot of a TX packet; `head` marks the packet's first slot (its size is the packet's). */
/** `hostile`: a request of a hostile-guest demonstration (its page is not a buffer of ours). */
interface TxSlot { gref: number; gfn: number; size: number; head: boolean; hostile?: boolean; gso?: number }

/**
 * What the stack asks of the virtual interface for one frame (the skb's offload state):
 * leave the TCP/UDP checksum to the backend (CHECKSUM_PARTIAL → NETTXF_csum_blank), and/or
 * have a TCP segment larger than the MSS cut into frames of `gsoSize` payload bytes.
 */
export interface TxOffload { csumBlank?: boolean; gsoSize?: number }

/** Most data slots one packet may take (XEN_NETBK_LEGACY_SLOTS_MAX: MAX_SKB_FRAGS + 1). */
export const NETIF_MAX_TX_SLOTS = 18;
/** The largest packet one TX request chain carries: its head's size is a u16 (XEN_NETIF_MAX_TX_SIZE). */
export const GSO_MAX_FRAME = 0xffff;
interface RxSlot { gref: number; gfn: number; hostile?: boolean }

/** What became of a hostile frontend's requests: answered OK (the backend used the page) or with an error. */
export interface HostileRequestStats { posted: number; ok: number; failed: number }

/** Linux netfront copies at most this many bytes of a received frame into the skb's linear area
 * (RX_COPY_THRESHOLD); the rest stays in the page as a fragment. */
export const RX_COPY_THRESHOLD = 256;
/** Smallest frame netback accepts (an Ethernet header). */
const ETH_HLEN = 14;

/**
 * The guest's half of the Xen split network driver (drivers/net/xen-netfront.c), without
 * any transport: the owner carries the event-channel notifications and xenstore keys.
 */
export class Netfront {
  readonly rxMode: RxMode;
  readonly stats: NetfrontStats = { txPackets: 0, txBytes: 0, txErrors: 0, rxPackets: 0, rxBytes: 0, rxErrors: 0, drops: {}, errors: {} };

  private readonly mem: GuestMemory;
  private readonly grants: GrantTableWriter;
  private readonly backend: number;
  private readonly pages: PagePool;
  private readonly cpu: Cpu;
  private readonly domain: string;
  private readonly hv?: FrontendHypervisorPort;
  private readonly grefs: GrefAllocator;
  private rxTarget: number;
  private readonly txQueueLen: number;

  private tx?: FrontRing<NetifTxRequest, NetifTxResponse>;
  private txPage?: ReturnType<typeof guestRingPage>;
  private rx?: FrontRing<NetifRxRequest, NetifRxResponse>;
  private readonly txSlots = new Map<number, TxSlot>();
  private readonly txFreeIds: number[] = [];
  private readonly rxSlots = new Map<number, RxSlot>();
  private readonly rxFreeIds: number[] = [];
  private readonly txQueue: Array<{ frame: Buffer; off?: TxOffload }> = [];
  /** TX grants the backend still held when their response came (ended on a later event). */
  private readonly deferredEnds: TxSlot[] = [];
  /** Set by abandon(): the backend is gone and this device with it. */
  private gone = false;
  /** Requests of hostileGrant, by ring. */
  readonly hostile = { tx: { posted: 0, ok: 0, failed: 0 } as HostileRequestStats, rx: { posted: 0, ok: 0, failed: 0 } as HostileRequestStats };

  constructor(opts: NetfrontOptions) {
    if (opts.rxMode !== 'copy' && opts.rxMode !== 'flip') throw new NetfrontError('bad_argument', `rxMode ${String(opts.rxMode)}`);
    if (!Number.isInteger(opts.backendDomid) || opts.backendDomid < 0 || opts.backendDomid > 0xffff) {
      throw new NetfrontError('bad_argument', `backendDomid ${opts.backendDomid} is not a domid`);
    }
    if (opts.rxMode === 'flip' && !opts.hv) throw new NetfrontError('bad_argument', "rxMode 'flip' needs hv (acceptTransfer)");
    this.hv = opts.hv;
    this.mem = opts.mem;
    this.grants = opts.grants;
    this.backend = opts.backendDomid;
    this.rxMode = opts.rxMode;
    this.pages = opts.pages;
    this.cpu = opts.cpu;
    this.domain = opts.domain;
    this.grefs = new GrefAllocator(opts.grefBase ?? GNTTAB_NR_RESERVED_ENTRIES, opts.grants.capacity);
    this.rxTarget = opts.rxBuffers ?? NaN; // NaN: computed at setup from the pool
    this.txQueueLen = opts.txQueueLen ?? 1000;
    if (opts.rxBuffers !== undefined && !(opts.rxBuffers >= 1)) throw new NetfrontError('bad_argument', `rxBuffers ${opts.rxBuffers} must be >= 1`);
    if (!(this.txQueueLen >= 0)) throw new NetfrontError('bad_argument', `txQueueLen ${this.txQueueLen} must be >= 0`);
  }

  get connected(): boolean {
    return this.tx !== undefined;
  }

  /** Frames waiting for a TX ring slot. */
  get txQueued(): number {
    return this.txQueue.length;
  }

  /**
   * Takes the frames waiting for a TX slot, in order (the guest suspends: they go out on the
   * connection it resumes with, not on this one).
   */
  takeQueued(): Array<{ frame: Buffer; off?: TxOffload }> {
    return this.txQueue.splice(0);
  }

  /** RX buffers currently posted to the backend. */
  get rxPosted(): number {
    return this.rxSlots.size;
  }

  /** TX requests the backend has not answered yet. */
  get txInFlight(): number {
    return this.txSlots.size;
  }

  /** Whether abandon() has been called: the device takes no more work. */
  get abandoned(): boolean {
    return this.gone;
  }

  /**
   * The backend went away without answering (its driver domain died), as
   * xennet_disconnect_backend finds it: the TX requests still outstanding are written off
   * (counted as dropped, reason backend_gone) and the head of each such packet is returned
   * from its page, in ring order, with the frames it stands for on the wire (a GSO packet is
   * several), so that the owner can say which flows lost them. The device
   * does no more work; its grants are the owner's to end once the hypervisor has released
   * the dead backend's mappings, and its pages go with it.
   */
  abandon(): Array<{ head: Buffer; frames: number }> {
    const lost: Array<{ head: Buffer; frames: number }> = [];
    for (const slot of this.txSlots.values()) {
      if (!slot.head || slot.hostile) continue;
      const head = this.mem.read(slot.gfn, 0, Math.min(slot.size, PAGE_SIZE));
      lost.push({ head, frames: wireFrames(head, slot.size, slot.gso) });
      this.stats.txErrors++;
      this.drop('backend_gone');
    }
    this.txSlots.clear();
    this.rxSlots.clear();
    this.deferredEnds.length = 0;
    this.gone = true;
    return lost;
  }

  /**
   * Allocates and grants the TX and RX ring pages (xennet's setup_netfront) and posts RX
   * buffers. The refs go to xenstore as tx-ring-ref / rx-ring-ref.
   */
  /**
   * A hostile frontend (the protection demonstrations): writes a TX request producer index
   * `ahead` slots past the one it published, claiming requests that do not exist. The caller
   * then notifies the backend, which must catch it.
   */
  hostileRequestProducer(ahead: number): number {
    if (!this.txPage) throw new NetfrontError('not_connected', 'setup() first');
    const reqProd = this.txPage.read(0, 4).readUInt32LE(0);
    const forged = (reqProd + ahead) >>> 0;
    const b = Buffer.alloc(4);
    b.writeUInt32LE(forged, 0);
    this.txPage.write(0, b);
    return forged;
  }

  /**
   * A hostile frontend (the protection demonstrations): offers the backend page `gfn` — whose
   * p2m entry the guest has pointed at a frame it does not own — as `rx` receive buffers
   * (the backend, or the NIC behind it, writes received frames into it) and as a transmit
   * request of `txBytes` bytes (0: none; the backend sends what the page holds). Whether the
   * backend can use the grant is the grant check's call. Returns whether to notify.
   */
  hostileGrant(gfn: number, rx: number, txBytes: number): boolean {
    const tx = this.requireTx();
    let notify = false;
    // receive buffers go on the ring as soon as it has room, before our own are reposted
    this.hostileRxPlan = { gfn, left: rx };
    if (this.postHostileRx() > 0) notify = this.rx!.pushRequests() || notify;
    if (txBytes > 0 && this.txFreeIds.length > 0 && tx.freeRequests() > 0) {
      const id = this.txFreeIds.pop()!;
      const gref = this.takeGref();
      this.grants.grantAccess(gref, this.backend, gfn, true);
      this.txSlots.set(id, { gref, gfn, size: txBytes, head: true, hostile: true });
      tx.putRequest({ gref, offset: 0, flags: 0, id, size: txBytes });
      this.hostile.tx.posted++;
      notify = tx.pushRequests() || notify;
    }
    return notify;
  }

  private hostileRxPlan = { gfn: 0, left: 0 };

  private postHostileRx(): number {
    let posted = 0;
    const plan = this.hostileRxPlan;
    while (plan.left > 0 && this.rxFreeIds.length > 0 && this.rx!.freeRequests() > 0 && this.grefs.available > 0) {
      const id = this.rxFreeIds.pop()!;
      const gref = this.takeGref();
      this.grants.grantAccess(gref, this.backend, plan.gfn, false);
      this.rxSlots.set(id, { gref, gfn: plan.gfn, hostile: true });
      this.rx!.putRequest({ id, gref });
      this.hostile.rx.posted++;
      plan.left--;
      posted++;
    }
    return posted;
  }

  /** hostileGrant's requests the backend has not answered yet (receive buffers still to post included). */
  get hostileOutstanding(): number {
    return this.hostileRxPlan.left + this.hostile.tx.posted + this.hostile.rx.posted - this.hostile.tx.ok - this.hostile.tx.failed - this.hostile.rx.ok - this.hostile.rx.failed;
  }

  setup(): { txRingRef: number; rxRingRef: number } {
    if (this.tx) throw new NetfrontError('already_connected', 'setup() was already called');
    const txGfn = this.takePage();
    const rxGfn = this.takePage();
    const txRingRef = this.takeGref();
    const rxRingRef = this.takeGref();
    const txPage = guestRingPage(this.mem, txGfn);
    const rxPage = guestRingPage(this.mem, rxGfn);
    this.txPage = txPage;
    initSharedRing(txPage);
    initSharedRing(rxPage);
    this.tx = new FrontRing(txPage, txRequestCodec, txResponseCodec);
    this.rx = new FrontRing(rxPage, rxRequestCodec, rxResponseCodec);
    this.grants.grantAccess(txRingRef, this.backend, txGfn, false);
    this.grants.grantAccess(rxRingRef, this.backend, rxGfn, false);
    for (let id = this.tx.size - 1; id >= 0; id--) this.txFreeIds.push(id);
    for (let id = this.rx.size - 1; id >= 0; id--) this.rxFreeIds.push(id);
    if (Number.isNaN(this.rxTarget)) this.rxTarget = Math.max(1, Math.floor(this.pages.free / 2));
    this.rxTarget = Math.min(this.rxTarget, this.rx.size);
    this.refillRx();
    // the backend is not connected yet: it will find these requests when it attaches
    this.rx.pushRequests();
    return { txRingRef, rxRingRef };
  }

  /**
   * Sends one frame: the guest writes it into a TX buffer page of its own, grants that page
   * read-only to the backend and puts a TX request. With no slot free the frame waits.
   */
  transmit(frame: Buffer, tNs: number, off?: TxOffload): TransmitResult {
    if (this.gone) {
      this.drop('backend_gone');
      return { notify: false, tNs, drop: 'backend_gone' };
    }
    const tx = this.requireTx();
    const gso = off?.gsoSize;
    if (gso !== undefined && (!Number.isInteger(gso) || gso < 1 || gso > 0xffff)) throw new NetfrontError('bad_argument', `gsoSize ${gso} is not an MSS`);
    // one page per request, unless the frame goes as a GSO packet over several slots
    const max = gso !== undefined ? GSO_MAX_FRAME : PAGE_SIZE;
    if (frame.length < ETH_HLEN || frame.length > max) {
      const reason = frame.length > max ? 'frame_too_big' : 'frame_too_small';
      this.drop(reason);
      return { notify: false, tNs, drop: reason };
    }
    if (this.txQueue.length > 0 || !this.canPutTx(frame.length, off)) {
      if (this.txQueue.length >= this.txQueueLen) {
        this.drop('tx_queue_full');
        return { notify: false, tNs, drop: 'tx_queue_full' };
      }
      this.txQueue.push({ frame, ...(off ? { off } : {}) });
      return { notify: false, tNs, queued: true };
    }
    const slots = this.putTx(frame, off);
    const notify = tx.pushRequests();
    const end = this.cpu.run(tNs, this.domain, [['netfront_tx', 1], ['ring_op', slots]]);
    return { notify, tNs: end };
  }

  /**
   * The event-channel handler (xennet_interrupt): collects TX responses, sends waiting
   * frames, receives RX responses and reposts buffers.
   */
  async onEvent(tNs: number): Promise<EventResult> {
    if (this.gone) return { frames: [], notify: false, tNs };
    const tx = this.requireTx();
    const rx = this.rx!;
    let t = tNs;
    let notify = false;

    // --- TX completions (xennet_tx_buf_gc) ---
    this.retryDeferredEnds();
    let txRsps = 0;
    do {
      for (const r of tx.takeResponses()) {
        txRsps++;
        this.completeTx(r);
      }
    } while (tx.finalCheckForResponses());
    let sent = 0;
    let slots = 0;
    while (this.txQueue.length > 0 && this.canPutTx(this.txQueue[0]!.frame.length, this.txQueue[0]!.off)) {
      const q = this.txQueue.shift()!;
      slots += this.putTx(q.frame, q.off);
      sent++;
    }
    if (sent > 0) notify = tx.pushRequests() || notify;
    if (txRsps + sent > 0) {
      const charges: Array<[Primitive, number?]> = [['ring_op', txRsps + slots]];
      if (sent > 0) charges.push(['netfront_tx', sent]);
      t = this.cpu.run(t, this.domain, charges);
    }

    // --- RX (xennet_poll) ---
    const frames: Array<{ bytes: Buffer; tNs: number }> = [];
    do {
      for (const r of rx.takeResponses()) {
        const got = await this.receiveOne(r, t);
        t = got.tNs;
        const bytes = got.bytes;
        const charges: Array<[Primitive, number?]> = [['ring_op', 1]];
        if (bytes) {
          charges.push(['netfront_rx', 1]);
          // the header (or a small frame whole) is copied into the skb's linear area
          if (this.rxMode === 'copy') charges.push(['copy_byte', Math.min(bytes.length, RX_COPY_THRESHOLD)]);
        }
        t = this.cpu.run(t, this.domain, charges);
        if (bytes) frames.push({ bytes, tNs: t });
      }
    } while (rx.finalCheckForResponses());
    const posted = this.refillRx();
    if (posted > 0) {
      notify = rx.pushRequests() || notify;
      t = this.cpu.run(t, this.domain, [['ring_op', posted]]);
    }
    return { frames, notify, tNs: t };
  }

  // ---------------------------------------------------------------------------------------

  private requireTx(): FrontRing<NetifTxRequest, NetifTxResponse> {
    if (!this.tx) throw new NetfrontError('not_connected', 'call setup() first');
    return this.tx;
  }

  private takePage(): number {
    const gfn = this.pages.take();
    if (gfn === undefined) throw new NetfrontError('no_pages', 'the guest page pool is empty');
    return gfn;
  }

  private takeGref(): number {
    const gref = this.grefs.take();
    if (gref === undefined) throw new NetfrontError('no_grefs', 'no free grant references');
    return gref;
  }

  private drop(reason: string): void {
    this.stats.drops[reason] = (this.stats.drops[reason] ?? 0) + 1;
  }

  private error(reason: string): void {
    this.stats.errors[reason] = (this.stats.errors[reason] ?? 0) + 1;
  }

  /** Whether a frame of `len` bytes fits now: a ring slot, id, page and gref per data slot, plus its extra-info slot. */
  private canPutTx(len = PAGE_SIZE, off?: TxOffload): boolean {
    const data = Math.max(1, Math.ceil(len / PAGE_SIZE));
    const ring = data + (off?.gsoSize !== undefined ? 1 : 0);
    return this.tx!.freeRequests() >= ring && this.txFreeIds.length >= data && this.pages.free >= data && this.grefs.available >= data;
  }

  /**
   * Puts one packet on the TX ring (xennet_start_xmit): its bytes page by page into TX
   * buffer pages, each granted read-only to the backend. A packet over several pages is a
   * chain: the first request carries the whole size and NETTXF_more_data, each further one
   * its own page's bytes, the last without more_data. A GSO packet's first request also
   * says NETTXF_extra_info, and the next slot is the XEN_NETIF_EXTRA_TYPE_GSO extra info
   * with the MSS. Returns the ring slots used.
   */
  private putTx(frame: Buffer, off?: TxOffload): number {
    const data = Math.max(1, Math.ceil(frame.length / PAGE_SIZE));
    const gso = off?.gsoSize;
    const reqs: NetifTxRequest[] = [];
    for (let k = 0; k < data; k++) {
      const id = this.txFreeIds.pop()!;
      const gfn = this.pages.take()!;
      const gref = this.grefs.take()!;
      const chunk = frame.subarray(k * PAGE_SIZE, Math.min((k + 1) * PAGE_SIZE, frame.length));
      this.mem.write(gfn, 0, chunk);
      this.grants.grantAccess(gref, this.backend, gfn, true);
      const head = k === 0;
      this.txSlots.set(id, { gref, gfn, size: head ? frame.length : chunk.length, head, ...(head && gso !== undefined ? { gso } : {}) });
      let flags = k < data - 1 ? NETTXF_more_data : 0;
      if (head && off?.csumBlank) flags |= NETTXF_csum_blank | NETTXF_data_validated;
      if (head && gso !== undefined) flags |= NETTXF_extra_info;
      reqs.push({ gref, offset: 0, flags, id, size: head ? frame.length : chunk.length });
    }
    this.tx!.putRequest(reqs[0]!);
    if (gso !== undefined) {
      this.tx!.putRequest(extraInfoAsTxRequest({ type: XEN_NETIF_EXTRA_TYPE_GSO, flags: 0, gso: { size: gso, type: XEN_NETIF_GSO_TYPE_TCPV4, features: 0 } }));
    }
    for (const r of reqs.slice(1)) this.tx!.putRequest(r);
    return reqs.length + (gso !== undefined ? 1 : 0);
  }

  private completeTx(r: NetifTxResponse): void {
    if (r.status === NETIF_RSP_NULL) return; // the answer to an extra-info slot: nothing to free
    const slot = this.txSlots.get(r.id);
    if (!slot) {
      this.error('tx_rsp_bad_id'); // a response for a request we never made
      return;
    }
    this.txSlots.delete(r.id);
    this.txFreeIds.push(r.id);
    if (slot.hostile) {
      this.hostile.tx[r.status === NETIF_RSP_OKAY ? 'ok' : 'failed']++;
      if (this.grants.endAccess(slot.gref)) this.grefs.give(slot.gref);
      return; // the page is not a buffer of ours: it never goes back to the pool
    }
    if (slot.head) {
      // a packet is counted once, at its first slot's answer
      if (r.status === NETIF_RSP_OKAY) {
        this.stats.txPackets++;
        this.stats.txBytes += slot.size;
      } else {
        this.stats.txErrors++;
        this.drop(r.status === -2 ? 'tx_dropped_by_backend' : 'tx_error_from_backend');
      }
    }
    this.endTxGrant(slot);
  }

  private endTxGrant(slot: TxSlot): void {
    if (this.grants.endAccess(slot.gref)) {
      this.grefs.give(slot.gref);
      this.pages.give(slot.gfn);
    } else {
      // still mapped by the backend: the page must not be reused yet
      this.deferredEnds.push(slot);
    }
  }

  private retryDeferredEnds(): void {
    const pending = this.deferredEnds.splice(0);
    for (const slot of pending) this.endTxGrant(slot);
  }

  /** One RX response → the frame's bytes, or undefined (counted) if it carries none. */
  private async receiveOne(r: NetifRxResponse, tNs: number): Promise<{ bytes?: Buffer; tNs: number }> {
    const slot = this.rxSlots.get(r.id);
    if (!slot) {
      this.error('rx_rsp_bad_id');
      return { tNs };
    }
    this.rxSlots.delete(r.id);
    this.rxFreeIds.push(r.id);
    if (slot.hostile) {
      // what the backend wrote went into the page the grant named: not ours to read
      this.hostile.rx[r.status >= 0 ? 'ok' : 'failed']++;
      if (this.grants.endAccess(slot.gref)) this.grefs.give(slot.gref);
      return { tNs };
    }
    const fail = (reason: string, t: number) => {
      this.stats.rxErrors++;
      this.error(reason);
      this.recycleRxSlot(slot);
      return { tNs: t };
    };
    if (r.status < 0) return fail('rx_error_from_backend', tNs);
    if (r.status < ETH_HLEN || r.offset + r.status > PAGE_SIZE) return fail('rx_bad_response', tNs);
    let t = tNs;
    if (this.rxMode === 'copy') {
      // revoke first: the backend must not write while we read
      this.grants.endAccess(slot.gref);
    } else {
      // the backend's page is ours now: its mfn sits in the grant entry
      const mfn = this.grants.transferredFrame(slot.gref);
      if (mfn === undefined) return fail('rx_no_transfer', t);
      const res = await this.hv!.acceptTransfer(slot.gref, slot.gfn, t);
      t = this.cpu.runCycles(t, 'xen', 'hypercall', res.cycles);
      if (res.status !== 0 || res.mfn !== mfn) return fail('rx_accept_failed', t);
      this.mem.setMfn(slot.gfn, mfn);
    }
    const bytes = this.mem.read(slot.gfn, r.offset, r.status);
    this.stats.rxPackets++;
    this.stats.rxBytes += bytes.length;
    this.recycleRxSlot(slot);
    return { bytes, tNs: t };
  }

  /** Buffers whose response was handled go back to the free lists for refillRx. */
  private recycleRxSlot(slot: RxSlot): void {
    this.grants.endAccess(slot.gref);
    this.grefs.give(slot.gref);
    this.pages.give(slot.gfn);
  }

  /** Posts RX buffers up to the target (xennet_alloc_rx_buffers); returns how many. */
  private refillRx(): number {
    const rx = this.rx!;
    let posted = this.postHostileRx();
    while (this.rxSlots.size < this.rxTarget && rx.freeRequests() > 0 && this.rxFreeIds.length > 0 && this.pages.free > 0 && this.grefs.available > 0) {
      const id = this.rxFreeIds.pop()!;
      const gfn = this.pages.take()!;
      const gref = this.grefs.take()!;
      if (this.rxMode === 'copy') this.grants.grantAccess(gref, this.backend, gfn, false);
      else this.grants.grantTransfer(gref, this.backend);
      this.rxSlots.set(id, { gref, gfn });
      rx.putRequest({ id, gref });
      posted++;
    }
    return posted;
  }
}

/** Frames a packet of `size` bytes leaves as: one, or a large TCP segment's MSS-sized pieces. */
function wireFrames(head: Buffer, size: number, gso: number | undefined): number {
  if (gso === undefined || head.length < 34) return 1;
  const ip = 14;
  const tcp = ip + (head[ip]! & 0x0f) * 4;
  if (head.length < tcp + 13) return 1;
  const payload = size - tcp - (head[tcp + 12]! >> 4) * 4;
  return Math.max(1, Math.ceil(payload / gso));
}
