// A netback that gives its guest a queue set of a multiqueue NIC (seed 001: the HP Labs /
// Citrix design). The guest's netfront is unchanged; behind it there is no bridge and no copy:
// netback grant-maps the guest's own buffers — the grant check is what makes sure each
// buffer belongs to the queue's guest — and puts their machine addresses on the queue set's
// descriptor rings, so the NIC moves the bytes to and from guest memory directly. The NIC
// demultiplexes received frames by destination MAC into the guest's queue set.
import type { Cpu } from '@vnetlab/cost';
import { GNTST_okay } from '@vnetlab/hypervisor';
import type { MachineMemory } from '@vnetlab/memory';
import type { QueueSetDriver } from '@vnetlab/nic';
import { NETIF_RSP_ERROR, NETIF_RSP_OKAY, type NetifRxRequest, type NetifTxRequest } from '@vnetlab/ring';
import { NetbackError } from './errors.js';
import { checkTxRequest, mapFrontendRings, type FrontendRings } from './frontend_rings.js';
import type { HypervisorPort, Priced } from './hypervisor_port.js';
import { bump, newVifStats, type VifStats } from './vif_stats.js';

const PAGE = 4096;
const XEN = 'xen';

/** The batched grant operations a multiqueue backend needs besides the ring mapping. */
export interface BatchGrantPort {
  grantMapBatch(ops: Array<{ granter: number; gref: number; readonly: boolean }>, tNs: number): Promise<Array<{ status: number; mfn: number; handle: number; cycles: number } & Priced>>;
  grantUnmapBatch(handles: number[], tNs: number): Promise<Array<{ status: number; cycles: number } & Priced>>;
}

/** What each posted NIC buffer stands for: the guest request it serves and its grant mapping. */
export interface MqCookie {
  id: number;
  handle: number;
}

export interface MultiqueueBackendOptions {
  frontDomid: number;
  mem: MachineMemory;
  hv: HypervisorPort & BatchGrantPort;
  cpu: Cpu;
  /** The driver of the queue set this guest owns (rings in the driver domain's memory). */
  queue: QueueSetDriver<MqCookie>;
  /** Writes a ring's tail register of the queue set (an MMIO write). */
  doorbell: (ring: 'tx' | 'rx', tail: number, tNs: number) => void;
  domain?: string;
}

export interface MqResult {
  notify: boolean;
  tNs: number;
}

export class MultiqueueBackend {
  readonly stats: VifStats = newVifStats();
  private rings?: FrontendRings;
  private readonly domain: string;

  constructor(private readonly o: MultiqueueBackendOptions) {
    this.domain = o.domain ?? 'dom0';
  }

  get frontDomid(): number {
    return this.o.frontDomid;
  }

  async connect(txRingRef: number, rxRingRef: number, tNs: number): Promise<{ tNs: number }> {
    if (this.rings) throw new NetbackError('already_connected', `vif for domain ${this.o.frontDomid} is connected`);
    const r = await mapFrontendRings(this.o.hv, this.o.mem, this.o.frontDomid, txRingRef, rxRingRef, tNs, (t, c, p) => this.charge(t, c, p));
    this.rings = { tx: r.tx, rx: r.rx, handles: r.handles };
    return { tNs: r.tNs };
  }

  /** The frontend notified: new TX requests to send, or new RX buffers to post. */
  async onFrontendEvent(tNs: number): Promise<MqResult> {
    const rings = this.require();
    let t = tNs;
    let notify = false;
    const tx = await this.pullTx(rings, t);
    t = tx.tNs;
    notify = tx.notify || notify;
    const rx = await this.pullRx(rings, t);
    return { notify: rx.notify || notify, tNs: rx.tNs };
  }

  /** The queue set's interrupt: answer the guest for every buffer the NIC is done with. */
  async onQueueInterrupt(tNs: number): Promise<MqResult> {
    const rings = this.require();
    const done = this.o.queue.reclaim(tNs);
    let t = tNs;
    const handles = [...done.tx, ...done.rx].map((c) => c.cookie.handle);
    if (handles.length > 0) {
      // a buffer's driver work is charged once: TX when it is posted, RX when it comes back full
      t = this.o.cpu.run(t, this.domain, [['nic_driver_rx', done.rx.length], ['netback_rx', done.rx.length], ['ring_op', handles.length]]);
      const un = await this.o.hv.grantUnmapBatch(handles, t);
      t = this.charge(t, un.reduce((n, r) => n + r.cycles, 0), { charges: un.flatMap((r) => r.charges ?? []) });
      for (const r of un) if (r.status !== GNTST_okay) bump(this.stats.errors, `unmap_failed_${r.status}`);
    }
    for (const c of done.tx) {
      rings.tx.putResponse({ id: c.cookie.id, status: c.ok ? NETIF_RSP_OKAY : NETIF_RSP_ERROR });
      if (c.ok) {
        this.stats.txPackets++;
        this.stats.txBytes += c.len;
      } else bump(this.stats.txErrors, 'nic_error');
    }
    for (const c of done.rx) {
      rings.rx.putResponse({ id: c.cookie.id, offset: 0, flags: 0, status: c.ok ? c.len : NETIF_RSP_ERROR });
      if (c.ok) {
        this.stats.rxPackets++;
        this.stats.rxBytes += c.len;
      } else bump(this.stats.rxDrops, 'nic_error');
    }
    let notify = false;
    if (done.tx.length > 0) notify = rings.tx.pushResponses() || notify;
    if (done.rx.length > 0) notify = rings.rx.pushResponses() || notify;
    // freed descriptors take what the guest has been waiting to send or post
    const more = await this.onFrontendEvent(t);
    return { notify: notify || more.notify, tNs: more.tNs };
  }

  private async pullTx(rings: FrontendRings, tNs: number): Promise<MqResult> {
    let t = tNs;
    let notify = false;
    let tail = -1;
    for (;;) {
      const room = this.o.queue.txFree();
      if (room === 0) break;
      const { requests, overflow } = rings.tx.takeRequests(room);
      if (overflow) throw new NetbackError('bad_argument', `domain ${this.o.frontDomid}: TX ring overflow`);
      if (requests.length === 0) {
        if (rings.tx.finalCheckForRequests()) continue;
        break;
      }
      t = this.o.cpu.run(t, this.domain, [['netback_tx', requests.length], ['ring_op', requests.length]]);
      let answered = 0; // requests refused here: their error responses go back now
      const valid: NetifTxRequest[] = [];
      for (const req of requests) {
        const reason = checkTxRequest(req);
        if (reason) {
          bump(this.stats.txErrors, reason);
          rings.tx.putResponse({ id: req.id, status: NETIF_RSP_ERROR });
        } else valid.push(req);
      }
      if (valid.length > 0) {
        // the grant check is the ownership check: the page must be the guest's, granted to us
        const maps = await this.o.hv.grantMapBatch(valid.map((r) => ({ granter: this.o.frontDomid, gref: r.gref, readonly: true })), t);
        t = this.charge(t, maps.reduce((n, r) => n + r.cycles, 0), { charges: maps.flatMap((r) => r.charges ?? []) });
        const bufs = [];
        for (let i = 0; i < valid.length; i++) {
          const req = valid[i]!;
          const m = maps[i]!;
          if (m.status !== GNTST_okay) {
            bump(this.stats.txErrors, `map_failed_${m.status}`);
            rings.tx.putResponse({ id: req.id, status: NETIF_RSP_ERROR });
            answered++;
            continue;
          }
          bufs.push({ addr: m.mfn * PAGE + req.offset, len: req.size, cookie: { id: req.id, handle: m.handle } });
        }
        if (bufs.length > 0) {
          t = this.o.cpu.run(t, this.domain, [['nic_driver_tx', bufs.length]]);
          tail = this.o.queue.postTx(bufs).tail;
        }
      }
      if (valid.length < requests.length || answered > 0) notify = rings.tx.pushResponses() || notify;
    }
    if (tail >= 0) {
      t = this.o.cpu.run(t, this.domain, [['mmio_write', 1]]);
      this.o.doorbell('tx', tail, t);
    }
    return { notify, tNs: t };
  }

  private async pullRx(rings: FrontendRings, tNs: number): Promise<MqResult> {
    let t = tNs;
    let tail = -1;
    for (;;) {
      const room = this.o.queue.rxFree();
      if (room === 0) break;
      const { requests, overflow } = rings.rx.takeRequests(room);
      if (overflow) throw new NetbackError('bad_argument', `domain ${this.o.frontDomid}: RX ring overflow`);
      if (requests.length === 0) {
        if (rings.rx.finalCheckForRequests()) continue;
        break;
      }
      t = this.o.cpu.run(t, this.domain, [['ring_op', requests.length]]);
      const maps = await this.o.hv.grantMapBatch(requests.map((r: NetifRxRequest) => ({ granter: this.o.frontDomid, gref: r.gref, readonly: false })), t);
      t = this.charge(t, maps.reduce((n, r) => n + r.cycles, 0), { charges: maps.flatMap((r) => r.charges ?? []) });
      const bufs = [];
      let refused = false;
      for (let i = 0; i < requests.length; i++) {
        const m = maps[i]!;
        if (m.status !== GNTST_okay) {
          bump(this.stats.rxDrops, `map_failed_${m.status}`);
          rings.rx.putResponse({ id: requests[i]!.id, offset: 0, flags: 0, status: NETIF_RSP_ERROR });
          refused = true;
          continue;
        }
        bufs.push({ addr: m.mfn * PAGE, len: PAGE, cookie: { id: requests[i]!.id, handle: m.handle } });
      }
      if (bufs.length > 0) tail = this.o.queue.postRx(bufs).tail;
      if (refused) rings.rx.pushResponses();
    }
    if (tail >= 0) {
      t = this.o.cpu.run(t, this.domain, [['mmio_write', 1]]);
      this.o.doorbell('rx', tail, t);
    }
    return { notify: false, tNs: t };
  }

  private charge(t: number, cycles: number, p: Priced): number {
    this.stats.hypercalls++;
    if (p.charges && p.charges.length > 0) return this.o.cpu.run(t, XEN, p.charges);
    return this.o.cpu.runCycles(t, XEN, 'hypercall', cycles);
  }

  private require(): FrontendRings {
    if (!this.rings) throw new NetbackError('not_connected', `vif for domain ${this.o.frontDomid} is not connected`);
    return this.rings;
  }
}
