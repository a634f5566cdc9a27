import type { Cpu } from '@vnetlab/cost';
import { TSO_MAX_SEGMENTS, l4Span, segmentCount, tcpPayloadBytes, type SkBuff, type SkbFrag } from '@vnetlab/frames';
import { DOMID_SELF, GNTST_okay, type Charges, type GrantCopyOp } from '@vnetlab/hypervisor';
import { INVALID_MFN, PAGE_SIZE, type GuestMemory, type MachineMemory, type PagePool } from '@vnetlab/memory';
import {
  NETIF_RSP_ERROR, NETIF_RSP_NULL, NETIF_RSP_OKAY, NETTXF_csum_blank, type BackRing,
  type NetifRxRequest, type NetifRxResponse, type NetifTxRequest, type NetifTxResponse,
} from '@vnetlab/ring';
import { NetbackError } from './errors.js';
import { ETH_HLEN, mapFrontendRings } from './frontend_rings.js';
import { parseTxPackets, type TxFeatures, type TxPacket } from './tx_packets.js';
import type { HypervisorPort } from './hypervisor_port.js';
import { bump, newVifStats, type VifStats } from './vif_stats.js';

export type RxMode = 'copy' | 'flip';

/**
 * How netback takes a guest's transmitted bytes: grant copy of every byte into dom0 pages
 * (modern Xen); grant map of each slot with a host mapping, the NIC sending from the guest's
 * page (Xen 2.0/3.0, Menon et al. 2006's baseline: a page-table update per slot and a TLB
 * flush at unmap); or "TX without remapping" (Menon et al. 2006, sec. 4.2): only the header
 * copied, the payload mapped for the device alone. In both mapped modes the guest's buffer is
 * answered when the NIC is done with it (or the frame is dropped), not before.
 */
export type TxMode = 'copy' | 'map' | 'noremap';

/**
 * Bytes of a packet's head netback copies into its own page when the rest is mapped:
 * XEN_NETBACK_TX_COPY_LEN (128) in drivers/net/xen-netback/netback.c since Linux 3.14, enough
 * for the Ethernet/IPv4/TCP headers the bridge and the checksum code read.
 */
export const TX_COPY_LEN = 128;

export interface NetbackOptions {
  frontDomid: number;
  mem: MachineMemory;
  /** dom0's view of its own memory (its p2m), for the buffer pages. */
  dom0: GuestMemory;
  /** dom0's buffer pages for frames coming from the guest. */
  pages: PagePool;
  hv: HypervisorPort;
  cpu: Cpu;
  rxMode: RxMode;
  /** Domain charged on the ledger (default 'dom0'). */
  domain?: string;
  /**
   * What the backend offered the frontend in xenstore (feature-sg, feature-gso-tcpv4):
   * multi-slot packets and the GSO extra-info slot. Default: neither, and requests asking
   * for them are refused as 'unsupported_flags'.
   */
  features?: Partial<TxFeatures>;
  /** How TX bytes reach dom0 (default copy); map and noremap need grantMapBatch and grantUnmapBatch. */
  txMode?: TxMode;
  /** Called when a mapped TX packet is done with (its skb freed): call releaseTx() soon after. */
  onTxDone?: () => void;
}

export interface TxEventResult {
  /** Frames from the guest; each sits in a dom0 page (`page` set) that the caller owns now
   * and gives back to the pool when done with it. */
  skbs: SkBuff[];
  notify: boolean;
  tNs: number;
  /** True when requests were left on the ring for lack of dom0 buffer pages. */
  more: boolean;
}

export interface DeliverResult {
  notify: boolean;
  delivered: number;
  drops: Record<string, number>;
  tNs: number;
  /** gfns of skb pages that are free again (copied out, flipped and repopulated, or dropped):
   * the caller returns each to the pool it came from. */
  freedGfns: number[];
}

/** The hypervisor's share of a CPU on the ledger. */
const XEN = 'xen';

/**
 * A packet being served: its dom0 pages once taken (copy: one per data slot; noremap: one for
 * the header) and, in the mapped modes, each data slot's mapping (undefined: not mapped).
 */
interface TxCandidate { p: TxPacket; gfns: number[]; reason?: string; maps: Array<{ mfn: number; handle: number } | undefined> }

/** A packet whose guest frames stay mapped until its skb is freed; answered then. */
interface MappedTx { p: TxPacket; handles: number[]; done: boolean }

const IPPROTO_TCP = 6, IPPROTO_UDP = 17;

/**
 * The driver domain's half of the Xen split network driver for one vif
 * (drivers/net/xen-netback: netback.c for guest→world, rx.c for world→guest), without any
 * transport. Every request is copied out of the shared ring before it is validated.
 */
export class Netback {
  readonly frontDomid: number;
  readonly rxMode: RxMode;
  readonly txMode: TxMode;
  readonly stats: VifStats = newVifStats();

  private readonly mem: MachineMemory;
  private readonly dom0: GuestMemory;
  private readonly pages: PagePool;
  private readonly hv: HypervisorPort;
  private readonly cpu: Cpu;
  private readonly domain: string;
  private tx?: BackRing<NetifTxRequest, NetifTxResponse>;
  private rx?: BackRing<NetifRxRequest, NetifRxResponse>;
  private ringHandles: number[] = [];
  private broken?: string;
  private readonly features: TxFeatures;
  /** Packets copied out of the ring that wait for dom0 buffer pages (served first next time). */
  private heldTx: TxPacket[] = [];
  /** Mapped TX packets the NIC (or a drop) has not released yet, and released ones not yet answered. */
  private readonly txInFlight = new Set<MappedTx>();
  private txReleased: MappedTx[] = [];
  private readonly onTxDone?: () => void;

  constructor(opts: NetbackOptions) {
    if (!Number.isInteger(opts.frontDomid) || opts.frontDomid < 0 || opts.frontDomid >= DOMID_SELF) {
      throw new NetbackError('bad_argument', `frontDomid ${opts.frontDomid} is not a guest domid`);
    }
    if (opts.rxMode !== 'copy' && opts.rxMode !== 'flip') throw new NetbackError('bad_argument', `rxMode ${String(opts.rxMode)}`);
    const txMode = opts.txMode ?? 'copy';
    if (txMode !== 'copy' && txMode !== 'map' && txMode !== 'noremap') throw new NetbackError('bad_argument', `txMode ${String(txMode)}`);
    if (txMode !== 'copy' && (!opts.hv.grantMapBatch || !opts.hv.grantUnmapBatch)) throw new NetbackError('bad_argument', `txMode ${txMode} needs batched grant map and unmap`);
    this.txMode = txMode;
    this.onTxDone = opts.onTxDone;
    this.frontDomid = opts.frontDomid;
    this.rxMode = opts.rxMode;
    this.mem = opts.mem;
    this.dom0 = opts.dom0;
    this.pages = opts.pages;
    this.hv = opts.hv;
    this.cpu = opts.cpu;
    this.domain = opts.domain ?? 'dom0';
    this.features = { sg: opts.features?.sg === true, gsoTcpv4: opts.features?.gsoTcpv4 === true };
  }

  get connected(): boolean {
    return this.tx !== undefined;
  }

  /** Why the vif stopped serving its frontend (a hostile ring), if it did. */
  get disabled(): string | undefined {
    return this.broken;
  }

  /**
   * Whether netback checks the frontend's TX request producer index against the ring's size
   * (on: a claim of more requests than the ring holds shuts the vif down). Off only to show
   * why the check exists (`vnetlab protection HOST off`): netback then believes the claim and
   * serves the slots round the ring — stale ones, whose leftover bytes make requests that
   * fail — each costing dom0 its work, at most UNCHECKED_TX_RINGS rings' worth per event.
   */
  ringChecks = true;

  /** Maps the frontend's TX and RX ring pages (xenvif_map_frontend_data_rings). */
  async connect(txRingRef: number, rxRingRef: number, tNs: number): Promise<{ tNs: number }> {
    if (this.tx) throw new NetbackError('already_connected', `vif for domain ${this.frontDomid} is connected`);
    const r = await mapFrontendRings(this.hv, this.mem, this.frontDomid, txRingRef, rxRingRef, tNs, (t, cycles, p) => this.chargeHypercall(t, cycles, p.charges));
    this.tx = r.tx;
    this.rx = r.rx;
    this.ringHandles = r.handles;
    return { tNs: r.tNs };
  }

  /**
   * The frontend went away (xenvif_disconnect): unmaps the ring pages so that the guest's
   * domain can be destroyed. The caller has taken what the TX ring still held.
   */
  async disconnect(tNs: number): Promise<{ tNs: number }> {
    if (!this.tx) throw new NetbackError('not_connected', `vif for domain ${this.frontDomid} is not connected`);
    this.tx = undefined;
    this.rx = undefined;
    const handles = this.ringHandles.splice(0);
    if (!this.hv.grantUnmapBatch || handles.length === 0) return { tNs };
    const r = await this.hv.grantUnmapBatch(handles, tNs);
    let t = tNs;
    for (const x of r) if (x.cycles > 0) t = this.chargeHypercall(t, x.cycles, x.charges);
    const bad = r.find((x) => x.status !== 0);
    if (bad) throw new NetbackError('ring_map_failed', `unmapping the rings of domain ${this.frontDomid}: status ${bad.status}`);
    return { tNs: t };
  }

  /**
   * Guest→world (xenvif_tx_action): takes the TX requests, reads them into packets (a
   * chain of requests with its extra-info slots is one packet), and brings every valid
   * packet into dom0 as txMode says: copy — into dom0 pages, one per data slot, with one
   * batched grant copy, each slot answered at once; map / noremap — the slots grant-mapped in
   * one batch (noremap: the header grant-copied first, the rest mapped for the device only),
   * answered by releaseTx() once the skb is freed. Refused packets are answered at once.
   */
  async onTxEvent(tNs: number): Promise<TxEventResult> {
    const tx = this.requireTx();
    const skbs: SkBuff[] = [];
    let t = tNs;
    let notify = false;
    let more = false;
    // unchecked, a forged producer index could claim 2^32 requests: bounded per event
    let budget = this.ringChecks ? Infinity : UNCHECKED_TX_RINGS * tx.size;
    while (!this.broken) {
      if (this.heldTx.length === 0) {
        if (budget <= 0) break;
        if (this.txMode !== 'map' && this.pages.free === 0) {
          more = tx.unconsumedRequests() > 0;
          break;
        }
        // without chains a request is a packet: take no more than there are pages for them
        const { requests, overflow } = tx.takeRequests(Math.min(budget, this.features.sg || this.txMode === 'map' ? Infinity : this.pages.free), { unchecked: !this.ringChecks });
        budget -= requests.length;
        if (overflow) {
          this.disable('tx_ring_overflow');
          break;
        }
        if (requests.length === 0) {
          if (tx.finalCheckForRequests()) continue;
          break;
        }
        this.heldTx = parseTxPackets(requests, this.features);
        t = this.cpu.run(t, this.domain, [['netback_tx', this.heldTx.length], ['ring_op', requests.length]]);
      }
      // packets in ring order, as long as dom0 has a page for each of their data slots
      const cands: TxCandidate[] = [];
      while (this.heldTx.length > 0) {
        const p = this.heldTx[0]!;
        const pages = this.txMode === 'copy' ? p.data.length : this.txMode === 'noremap' ? 1 : 0;
        if (!p.reason && pages > this.pages.free) break;
        this.heldTx.shift();
        cands.push(p.reason ? { p, gfns: [], reason: p.reason, maps: [] } : { p, gfns: Array.from({ length: pages }, () => this.pages.take()!), maps: [] });
      }
      if (cands.length === 0) {
        more = true; // the rest waits for pages the bridge or the NIC gives back
        break;
      }
      const valid = cands.filter((c) => !c.reason);
      t = await this.copyIn(valid, t);
      if (this.txMode !== 'copy') t = await this.mapIn(valid.filter((c) => !c.reason), t);
      const batch: SkBuff[] = [];
      const unmapNow: number[] = [];
      let slots = 0;
      for (const c of cands) {
        const skb = c.reason ? undefined : this.txSkb(c, t);
        if (!skb) {
          for (const g of c.gfns) this.pages.give(g);
          for (const m of c.maps) if (m) unmapNow.push(m.handle);
          bump(this.stats.txErrors, c.reason!);
        } else {
          this.stats.txPackets++;
          this.stats.txBytes += c.p.size;
          batch.push(skb);
          if (this.txMode !== 'copy') {
            // answered when the skb is freed (the NIC sent it, or it was dropped)
            const m: MappedTx = { p: c.p, handles: c.maps.flatMap((x) => (x ? [x.handle] : [])), done: false };
            this.txInFlight.add(m);
            skb.zerocopy = { done: () => this.txDone(m) };
            continue;
          }
        }
        slots += this.answer(tx, c.p, skb !== undefined);
      }
      if (unmapNow.length > 0) t = await this.unmap(unmapNow, t);
      t = this.cpu.run(t, this.domain, [['ring_op', slots]]);
      notify = tx.pushResponses() || notify;
      for (const s of batch) skbs.push({ ...s, tNs: t }); // ready once the batch is answered
    }
    return { skbs, notify, tNs: t, more };
  }

  /**
   * The skb of a copied packet: page-backed (one slot) or scatter-gather (a chain), with the
   * offload state the frontend asked for. A packet whose offload its headers cannot carry
   * (checksum completion of what is not TCP/UDP over IPv4, GSO of what is not TCP) is
   * refused, as netback's checksum_setup refuses it.
   */
  private txSkb(c: TxCandidate, t: number): SkBuff | undefined {
    const skb = this.txMode === 'copy' ? this.copiedSkb(c, t) : this.mappedSkb(c, t);
    const bytes = skb.bytes;
    const csumBlank = (c.p.flags & NETTXF_csum_blank) !== 0;
    if (!csumBlank && c.p.gsoSize === undefined) return skb;
    const span = l4Span(bytes);
    if (!span || (span.protocol !== IPPROTO_TCP && span.protocol !== IPPROTO_UDP) || (c.p.gsoSize !== undefined && span.protocol !== IPPROTO_TCP)) {
      c.reason = 'bad_offload_headers';
      return undefined;
    }
    if (c.p.gsoSize !== undefined && segmentCount(tcpPayloadBytes(bytes), c.p.gsoSize) > TSO_MAX_SEGMENTS) {
      c.reason = 'gso_too_many_segments'; // a tiny MSS on a large segment: a flood of frames from one request
      return undefined;
    }
    // a GSO packet's checksum is always completed where it is cut ("gso checksum fixup")
    skb.csumPartial = true;
    if (csumBlank) this.stats.offload.csumBlank++;
    if (c.p.gsoSize !== undefined) {
      this.stats.offload.gso++;
      if (!csumBlank) this.stats.offload.gsoChecksumFixup++;
      if (tcpPayloadBytes(bytes) > c.p.gsoSize) skb.gso = { size: c.p.gsoSize };
    }
    return skb;
  }

  private copiedSkb(c: TxCandidate, t: number): SkBuff {
    const parts = c.p.data.map((_, k) => this.dom0.read(c.gfns[k]!, 0, c.p.lengths[k]!));
    const bytes = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    return parts.length === 1
      ? { bytes, tNs: t, page: { gfn: c.gfns[0]!, offset: 0 } }
      : { bytes, tNs: t, frags: c.p.data.map((_, k) => ({ gfn: c.gfns[k]!, offset: 0, len: c.p.lengths[k]! })) };
  }

  /**
   * The skb of a mapped packet: fragments on the guest's frames (by machine frame: the NIC
   * DMAs from them) and, in noremap mode, the header in dom0's page first. Dom0 reads the
   * bytes where they are (through its mapping, or the header it copied): no copy is charged.
   */
  private mappedSkb(c: TxCandidate, t: number): SkBuff {
    const frags: SkbFrag[] = [];
    const hlen = this.txMode === 'noremap' ? headerLen(c.p) : 0;
    if (hlen > 0) frags.push({ gfn: c.gfns[0]!, offset: 0, len: hlen });
    c.p.data.forEach((req, k) => {
      const skip = k === 0 ? hlen : 0;
      const len = c.p.lengths[k]! - skip;
      const m = c.maps[k];
      if (len > 0 && m) frags.push({ gfn: -1, mfn: m.mfn, offset: req.offset + skip, len });
    });
    const parts = frags.map((f) => (f.mfn === undefined ? this.dom0.read(f.gfn, f.offset, f.len) : this.mem.read(f.mfn, f.offset, f.len)));
    return { bytes: parts.length === 1 ? parts[0]! : Buffer.concat(parts), tNs: t, frags };
  }

  /**
   * Copies in by grant copy, one batch: in copy mode every data slot into its dom0 page; in
   * noremap mode each packet's header into its dom0 page; in map mode nothing.
   */
  private async copyIn(valid: TxCandidate[], t: number): Promise<number> {
    if (this.txMode === 'map') return t;
    const ops: Array<{ c: TxCandidate; op: GrantCopyOp }> = valid.flatMap((c) => {
      const slots = this.txMode === 'copy' ? c.p.data.map((req, k) => ({ req, k, len: c.p.lengths[k]! })) : [{ req: c.p.data[0]!, k: 0, len: headerLen(c.p) }];
      return slots.map(({ req, k, len }) => ({ c, op: { source: { gref: req.gref, domid: this.frontDomid, offset: req.offset }, dest: { gfn: c.gfns[k]!, domid: DOMID_SELF, offset: 0 }, len } }));
    });
    if (ops.length === 0) return t;
    const results = await this.hv.grantCopy(ops.map((o) => o.op), t);
    t = this.chargeHypercall(t, results.reduce((s, r) => s + r.cycles, 0), results.flatMap((r) => r.charges ?? []));
    ops.forEach(({ c }, i) => {
      const status = results[i]?.status;
      if (status !== GNTST_okay) c.reason ??= `copy_failed${status === undefined ? '' : `_${status}`}`;
    });
    return t;
  }

  /**
   * Maps the data slots (noremap: what lies beyond the header) in one batch, read-only: with
   * a host mapping in map mode, for the device alone in noremap mode. The hypervisor checks
   * each grant as for a copy and pins the frame while it is mapped.
   */
  private async mapIn(valid: TxCandidate[], t: number): Promise<number> {
    const deviceOnly = this.txMode === 'noremap';
    const want = valid.flatMap((c) => c.p.data.flatMap((req, k) => (c.p.lengths[k]! - (k === 0 && deviceOnly ? headerLen(c.p) : 0) > 0 ? [{ c, k, req }] : [])));
    if (want.length === 0) return t;
    const results = await this.hv.grantMapBatch!(want.map(({ req }) => ({ granter: this.frontDomid, gref: req.gref, readonly: true, deviceOnly })), t);
    t = this.chargeHypercall(t, results.reduce((s, r) => s + r.cycles, 0), results.flatMap((r) => r.charges ?? []));
    want.forEach(({ c, k }, i) => {
      const r = results[i];
      if (r?.status === GNTST_okay) c.maps[k] = { mfn: r.mfn, handle: r.handle };
      else c.reason ??= `map_failed${r === undefined ? '' : `_${r.status}`}`;
    });
    return t;
  }

  /** Answers every slot of a packet (an extra-info slot gets NETIF_RSP_NULL); returns how many. */
  private answer(tx: BackRing<NetifTxRequest, NetifTxResponse>, p: TxPacket, ok: boolean): number {
    for (const s of p.slots) tx.putResponse({ id: s.extra ? 0 : s.req.id, status: s.extra ? NETIF_RSP_NULL : ok ? NETIF_RSP_OKAY : NETIF_RSP_ERROR });
    return p.slots.length;
  }

  private async unmap(handles: number[], t: number): Promise<number> {
    const r = await this.hv.grantUnmapBatch!(handles, t);
    t = this.chargeHypercall(t, r.reduce((s, x) => s + x.cycles, 0), r.flatMap((x) => x.charges ?? []));
    const bad = r.filter((x) => x.status !== GNTST_okay).length;
    if (bad > 0) bump(this.stats.errors, 'unmap_failed', bad);
    return t;
  }

  /** The skb of a mapped packet was freed (xenvif_zerocopy_callback): queue it for releaseTx. */
  private txDone(m: MappedTx): void {
    if (m.done) return;
    m.done = true;
    this.txReleased.push(m);
    this.onTxDone?.();
  }

  /** Mapped TX packets not released yet (on the NIC's ring, or waiting in dom0). */
  get txPending(): number {
    return this.txInFlight.size - this.txReleased.length;
  }

  /**
   * Mapped TX packets whose skbs were freed (xenvif_tx_dealloc_action): their grants unmapped
   * in one batch and every slot answered — OKAY, as netback answers a packet it accepted even
   * when the frame is dropped later. After disconnect() the grants are still unmapped.
   */
  async releaseTx(tNs: number): Promise<{ notify: boolean; tNs: number }> {
    const done = this.txReleased.splice(0);
    if (done.length === 0) return { notify: false, tNs };
    let t = tNs;
    const handles = done.flatMap((m) => m.handles);
    if (handles.length > 0) t = await this.unmap(handles, t);
    for (const m of done) this.txInFlight.delete(m);
    if (!this.tx) return { notify: false, tNs: t };
    let slots = 0;
    for (const m of done) slots += this.answer(this.tx, m.p, true);
    t = this.cpu.run(t, this.domain, [['ring_op', slots]]);
    return { notify: this.tx.pushResponses(), tNs: t };
  }

  /**
   * World→guest (xenvif_rx_action): each frame takes one RX request posted by the
   * frontend and goes into that buffer by grant copy (copy mode) or by flipping dom0's page
   * to the guest (flip mode).
   */
  async deliver(skbs: SkBuff[], tNs: number): Promise<DeliverResult> {
    const rx = this.requireRx();
    const drops: Record<string, number> = {};
    const freedGfns: number[] = [];
    let t = tNs;
    const dropSkb = (skb: SkBuff, reason: string, ownPage = false): void => {
      bump(drops, reason);
      bump(this.stats.rxDrops, reason);
      if (skb.page) {
        if (ownPage) this.pages.give(skb.page.gfn);
        else freedGfns.push(skb.page.gfn);
      }
    };
    if (this.broken) {
      for (const s of skbs) dropSkb(s, 'vif_disabled');
      return { notify: false, delivered: 0, drops, tNs: t, freedGfns };
    }

    // frames we can deliver at all, each in a dom0 page
    const ready: Array<{ skb: SkBuff; page: { gfn: number; offset: number }; own: boolean }> = [];
    let copied = 0;
    for (const skb of skbs) {
      const len = skb.bytes.length;
      if (len < ETH_HLEN || len > PAGE_SIZE - (skb.page?.offset ?? 0)) {
        dropSkb(skb, 'bad_frame');
        continue;
      }
      if (skb.page) {
        ready.push({ skb, page: skb.page, own: false });
        continue;
      }
      // not page-backed yet: netback has to put the bytes into a page of its own first
      const gfn = this.pages.take();
      if (gfn === undefined) {
        dropSkb(skb, 'no_buffer');
        continue;
      }
      this.dom0.write(gfn, 0, skb.bytes);
      copied += len;
      ready.push({ skb, page: { gfn, offset: 0 }, own: true });
    }
    if (copied > 0) t = this.cpu.run(t, this.domain, [['copy_byte', copied]]);

    const { requests, overflow } = ready.length > 0 ? rx.takeRequests(ready.length) : { requests: [], overflow: false };
    if (overflow) this.disable('rx_ring_overflow');
    const out = ready.slice(0, requests.length).map((r, i) => ({ ...r, req: requests[i]!, status: GNTST_okay as number }));
    for (const r of ready.slice(requests.length)) {
      const reason = overflow ? 'vif_disabled' : 'rx_ring_full';
      bump(drops, reason);
      bump(this.stats.rxDrops, reason);
      if (r.own) this.pages.give(r.page.gfn);
      else freedGfns.push(r.page.gfn);
    }
    if (out.length === 0) return { notify: false, delivered: 0, drops, tNs: t, freedGfns };
    t = this.cpu.run(t, this.domain, [['netback_rx', out.length], ['ring_op', out.length]]);

    // pages that end up free for reuse: own ones back to our pool, others to the caller
    const release = (o: (typeof out)[number]): void => {
      if (o.own) this.pages.give(o.page.gfn);
      else freedGfns.push(o.page.gfn);
    };

    if (this.rxMode === 'copy') {
      const ops: GrantCopyOp[] = out.map((o) => ({
        source: { gfn: o.page.gfn, domid: DOMID_SELF, offset: o.page.offset },
        dest: { gref: o.req.gref, domid: this.frontDomid, offset: 0 },
        len: o.skb.bytes.length,
      }));
      const results = await this.hv.grantCopy(ops, t);
      t = this.chargeHypercall(t, results.reduce((s, r) => s + r.cycles, 0), results.flatMap((r) => r.charges ?? []));
      out.forEach((o, i) => {
        o.status = results[i]?.status ?? NETIF_RSP_ERROR;
        release(o); // the copy is done (or failed): the page is free either way
      });
    } else {
      for (const o of out) {
        const tr = await this.hv.grantTransfer(o.page.gfn, this.frontDomid, o.req.gref, t);
        t = this.chargeHypercall(t, tr.cycles, tr.charges);
        o.status = tr.status;
        if (tr.status !== GNTST_okay) {
          release(o); // still ours
          continue;
        }
        // the frame went to the guest: dom0's gfn has no frame until it is repopulated
        this.dom0.setMfn(o.page.gfn, INVALID_MFN);
        const pop = await this.hv.populatePhysmap(o.page.gfn, t);
        t = this.chargeHypercall(t, pop.cycles, pop.charges);
        if (pop.status === GNTST_okay) {
          this.dom0.setMfn(o.page.gfn, pop.mfn);
          release(o);
        } else {
          bump(this.stats.errors, 'populate_physmap_failed'); // the gfn stays empty: never reuse it
        }
      }
    }

    let delivered = 0;
    for (const o of out) {
      const len = o.skb.bytes.length;
      if (o.status === GNTST_okay) {
        // in flip mode the guest finds the frame where it sat in the page it now owns
        rx.putResponse({ id: o.req.id, offset: this.rxMode === 'copy' ? 0 : o.page.offset, flags: 0, status: len });
        delivered++;
        this.stats.rxPackets++;
        this.stats.rxBytes += len;
      } else {
        rx.putResponse({ id: o.req.id, offset: 0, flags: 0, status: NETIF_RSP_ERROR });
        const reason = `${this.rxMode === 'copy' ? 'copy_failed' : 'flip_failed'}_${o.status}`;
        bump(drops, reason);
        bump(this.stats.rxDrops, reason);
      }
    }
    t = this.cpu.run(t, this.domain, [['ring_op', out.length]]);
    const notify = rx.pushResponses();
    return { notify, delivered, drops, tNs: t, freedGfns };
  }

  /**
   * Asks the frontend to notify us when it posts RX buffers (RING_FINAL_CHECK_FOR_REQUESTS
   * on the RX ring): true when some are already there, so the caller can go on at once.
   */
  armRx(): boolean {
    return this.requireRx().finalCheckForRequests();
  }

  /** RX requests the frontend has posted and netback has not used yet. */
  rxRequestsAvailable(): number {
    return this.requireRx().unconsumedRequests();
  }

  // ---------------------------------------------------------------------------------------

  private requireTx(): BackRing<NetifTxRequest, NetifTxResponse> {
    if (!this.tx) throw new NetbackError('not_connected', 'call connect() first');
    return this.tx;
  }

  private requireRx(): BackRing<NetifRxRequest, NetifRxResponse> {
    if (!this.rx) throw new NetbackError('not_connected', 'call connect() first');
    return this.rx;
  }

  /** The hypercall runs on our CPU under the hypervisor's share; keep its breakdown when given. */
  private chargeHypercall(t: number, cycles: number, charges?: Charges): number {
    this.stats.hypercalls++;
    if (charges && charges.length > 0) return this.cpu.run(t, XEN, charges);
    return this.cpu.runCycles(t, XEN, 'hypercall', cycles);
  }

  /** A hostile or broken frontend: stop serving it (xenvif_fatal_tx_err). */
  private disable(reason: string): void {
    this.broken = reason;
    bump(this.stats.errors, reason);
  }
}

/** Rings' worth of TX requests netback serves per event when it does not check the producer index. */
export const UNCHECKED_TX_RINGS = 4;

/** The header bytes netback copies in noremap mode: TX_COPY_LEN, or the whole head slot if shorter. */
function headerLen(p: TxPacket): number {
  return Math.min(TX_COPY_LEN, p.lengths[0]!);
}
