// A guest that drives a NIC queue set itself (seed 001): `native` (no hypervisor at all),
// `passthrough` (its own NIC behind an IOMMU context that maps only its pages, so it
// programs the device with guest-physical addresses) and `cdna` (a queue set of a shared NIC
// whose rings only the hypervisor writes: every buffer goes through a validating hypercall).
// The frame bytes are written once, by the stack, into the guest's page; the NIC's DMA moves
// them — no copy, no driver domain.
import type { Cpu, Primitive } from '@vnetlab/cost';
import type { GuestMemory, PagePool } from '@vnetlab/memory';
import type { QueueSetDriver } from '@vnetlab/nic';
import { flowKey } from '@vnetlab/flows';
import type { GuestNic } from './guest_kernel.js';

const PAGE = 4096;
/** Descriptors per CDNA ring (the hypervisor's rings are one page: 256 descriptors). */
const CDNA_RING = 256;
/** The cookie of a descriptor a hostile driver aimed at memory that is not its own (never a page of its pool). */
const HOSTILE = -1;

/** What became of a hostile driver's descriptors: done OK by the device, or refused / in error. */
export interface HostileDescriptors { posted: number; ok: number; failed: number }

/** The CDNA hypercalls a guest's driver makes (the app binds them to the hypervisor). */
export interface CdnaPort {
  enqueue(rx: boolean, bufs: Array<{ gfn?: number; mfn?: number; offset: number; len: number }>, tNs: number): Promise<{ status: number; tail: number; accepted: number; charges: Array<[Primitive, number]> }>;
  complete(rx: boolean, tNs: number): Promise<{ status: number; completed: Array<{ gfn: number; doneLen: number; doneNs: number; ok: boolean }>; charges: Array<[Primitive, number]> }>;
}

export interface DirectNicOptions {
  mode: 'native' | 'passthrough' | 'cdna' | 'emulated';
  mem: GuestMemory;
  pages: PagePool;
  cpu: Cpu;
  domain: string;
  /** native / passthrough: the queue set's rings in the guest's own memory. */
  queue?: QueueSetDriver<number>;
  /** The address the NIC is given for a page: machine (native) or guest-physical behind the IOMMU (passthrough). */
  busAddr?: (gfn: number) => number;
  /** cdna: the validating hypercalls. */
  cdna?: CdnaPort;
  /** Writes a ring's tail register (an MMIO write to the device: no trap in any of these modes). */
  doorbell: (ring: 'tx' | 'rx', tail: number, tNs: number) => void;
  /** Receive buffers kept posted. */
  rxBuffers?: number;
  /** Frames that may wait for a free descriptor. */
  txQueueLen?: number;
  /**
   * Write the TX tail register for every frame, as a Linux e1000 driver of the Xen 3 era does
   * (no batching of tail writes): on an emulated NIC each write is a trap, charged here.
   */
  tailWritePerFrame?: boolean;
  /** Called first thing on every interrupt: the driver reads the interrupt cause register (a trapped access when the NIC is emulated). */
  ack?: (tNs: number) => void;
  /** Told of a frame the device lost after the kernel handed it over (e.g. refused by CDNA validation). */
  onDrop?: (flow: string, reason: string) => void;
}

export class DirectNic implements GuestNic {
  private readonly txQueue: Array<{ gfn: number; len: number }> = [];
  private readonly unsent: Array<{ gfn: number; len: number; flow: string }> = []; // cdna: written, not yet enqueued
  private cdnaTxOutstanding = 0; // cdna: enqueued on the ring, not yet completed
  private readonly cdnaWaiting: Array<{ gfn: number; len: number; flow: string }> = []; // cdna: no room on the ring yet
  private rxPosted = 0;
  private txTail = -1;
  private readonly serialCdna: { run: Promise<unknown> } = { run: Promise.resolve() };
  readonly stats = { txFrames: 0, rxFrames: 0, drops: {} as Record<string, number>, refused: 0 };
  /** Descriptors of the hostile-driver demonstrations, by ring. */
  readonly hostile = { tx: { posted: 0, ok: 0, failed: 0 } as HostileDescriptors, rx: { posted: 0, ok: 0, failed: 0 } as HostileDescriptors };
  /** Pages given away while a receive buffer on them was enqueued: no longer ours to read or reuse. */
  private readonly givenAway = new Set<number>();
  /** Set by abandon(): the device was reset and this driver instance with it. */
  private gone = false;

  constructor(private readonly o: DirectNicOptions) {
    if (o.mode === 'cdna' ? !o.cdna : !o.queue || !o.busAddr) throw new Error(`direct NIC in ${o.mode} mode is missing its ${o.mode === 'cdna' ? 'CDNA port' : 'queue driver'}`);
  }

  get txQueued(): number {
    return this.txQueue.length + this.cdnaWaiting.length;
  }

  /**
   * Takes the frames waiting for a free TX descriptor, in order (the device goes away: they
   * go out on the next one).
   */
  takeQueued(): Array<{ frame: Buffer }> {
    return this.txQueue.splice(0).map((f) => {
      const frame = this.o.mem.read(f.gfn, 0, f.len);
      this.o.pages.give(f.gfn);
      return { frame };
    });
  }

  /**
   * The device was reset under the driver (an emulated NIC whose device model restarted):
   * the frames posted on its TX ring and not sent (not written back) are written off, counted as dropped
   * (device_reset); their headers are returned, in ring order, to say which flows lost them.
   * The device does no more work.
   */
  abandon(): Buffer[] {
    if (this.o.mode === 'cdna') throw new Error('a CDNA queue set is the hypervisor\'s to reset');
    // (a descriptor the device wrote back was sent: only the others are lost)
    const lost = this.o.queue!.outstanding('tx', { notDone: true }).filter((c) => c !== HOSTILE).map((gfn) => this.o.mem.read(gfn, 0, 64));
    for (let i = 0; i < lost.length; i++) this.bump('device_reset');
    this.gone = true;
    return lost;
  }

  /**
   * Posts the first receive buffers (before the device is used). A CDNA queue set may not
   * be ready yet (the hypervisor is still programming the NIC): try again for a while.
   */
  async start(tNs: number, timeoutMs = 30_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    let t = await this.refillRx(tNs);
    while (this.rxPosted === 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      t = await this.refillRx(t);
    }
    if (this.rxPosted === 0) throw new Error(`${this.o.domain}: the NIC queue set took no receive buffer in ${timeoutMs} ms`);
    return t;
  }

  transmit(frame: Buffer, tNs: number): { notify: boolean; tNs: number; queued?: boolean; drop?: string } {
    if (this.gone) return this.drop('device_reset', tNs);
    if (frame.length < 14 || frame.length > PAGE) return this.drop('bad_frame', tNs);
    const gfn = this.o.pages.take();
    if (gfn === undefined) return this.drop('no_buffer', tNs);
    this.o.mem.write(gfn, 0, frame); // the stack builds the frame in the guest's own page
    const t = this.o.cpu.run(tNs, this.o.domain, [['nic_driver_tx', 1]]);
    if (this.o.mode === 'cdna') {
      const f = { gfn, len: frame.length, flow: flowKey(frame) };
      // the ring holds size-1 buffers: beyond that frames wait here, as in a full TX ring
      if (this.cdnaWaiting.length > 0 || this.unsent.length + this.cdnaTxOutstanding >= CDNA_RING - 1) {
        if (this.cdnaWaiting.length >= (this.o.txQueueLen ?? 1000)) {
          this.o.pages.give(gfn);
          return this.drop('tx_queue_full', t);
        }
        this.cdnaWaiting.push(f);
        return { notify: false, tNs: t, queued: true };
      }
      this.unsent.push(f);
      return { notify: true, tNs: t };
    }
    if (this.txQueue.length > 0 || this.o.queue!.txFree() === 0) {
      if (this.txQueue.length >= (this.o.txQueueLen ?? 1000)) {
        this.o.pages.give(gfn);
        return this.drop('tx_queue_full', t);
      }
      this.txQueue.push({ gfn, len: frame.length });
      return { notify: false, tNs: t, queued: true };
    }
    this.txTail = this.o.queue!.postTx([{ addr: this.o.busAddr!(gfn), len: frame.length, cookie: gfn }]).tail;
    this.stats.txFrames++;
    if (this.o.tailWritePerFrame) {
      const tw = this.o.cpu.run(t, 'xen', [['vm_exit', 1]]);
      this.o.doorbell('tx', this.txTail, tw);
      this.txTail = -1;
      return { notify: false, tNs: tw };
    }
    return { notify: true, tNs: t };
  }

  /**
   * Tells the device (the kernel's "notify"): the TX doorbell for what was queued; under
   * CDNA first the validating enqueue hypercall for the batch.
   */
  kick(tNs: number): void {
    if (this.o.mode !== 'cdna') {
      if (this.txTail >= 0) this.o.doorbell('tx', this.txTail, tNs);
      this.txTail = -1;
      return;
    }
    const batch = this.unsent.splice(0);
    if (batch.length === 0) return;
    this.cdnaRun(async () => {
      const r = await this.o.cdna!.enqueue(false, batch.map((b) => ({ gfn: b.gfn, offset: 0, len: b.len })), tNs);
      const t = this.chargeHypercall(tNs, r.charges);
      this.cdnaTxOutstanding += r.accepted;
      for (const b of batch.slice(r.accepted)) {
        // refused by the hypervisor's validation: the frame is lost, its page is ours again
        this.o.pages.give(b.gfn);
        this.stats.refused++;
        this.o.onDrop?.(b.flow, 'cdna_refused');
      }
      this.stats.txFrames += r.accepted;
      if (r.accepted > 0) this.o.doorbell('tx', r.tail, t);
    });
  }

  async onEvent(tNs: number): Promise<{ frames: Array<{ bytes: Buffer; tNs: number }>; notify: boolean; tNs: number }> {
    if (this.gone) return { frames: [], notify: false, tNs };
    return this.o.mode === 'cdna' ? this.onEventCdna(tNs) : this.onEventQueue(tNs);
  }

  private async onEventQueue(tNs: number) {
    this.o.ack?.(tNs);
    const q = this.o.queue!;
    const done = q.reclaim(tNs);
    let t = tNs;
    for (const c of done.tx) {
      if (c.cookie === HOSTILE) this.hostile.tx[c.ok ? 'ok' : 'failed']++;
      else this.o.pages.give(c.cookie);
    }
    const frames: Array<{ bytes: Buffer; tNs: number }> = [];
    for (const c of done.rx) {
      this.rxPosted--;
      if (c.cookie === HOSTILE) {
        // what the device wrote there is not in our memory: nothing to read, no page to recycle
        this.hostile.rx[c.ok ? 'ok' : 'failed']++;
        if (this.hostile.rx.ok + this.hostile.rx.failed >= this.hostile.rx.posted) this.refillOff = false;
        continue;
      }
      if (c.ok && c.len >= 14) {
        t = this.o.cpu.run(Math.max(t, c.doneNs), this.o.domain, [['nic_driver_rx', 1]]);
        frames.push({ bytes: this.o.mem.read(c.cookie, 0, c.len), tNs: t });
        this.stats.rxFrames++;
      } else this.bump('rx_error');
      this.o.pages.give(c.cookie);
    }
    if (done.tx.length + done.rx.length > 0) t = this.o.cpu.run(t, this.o.domain, [['ring_op', done.tx.length + done.rx.length]]);
    // freed TX slots take waiting frames
    let sent = 0;
    while (this.txQueue.length > 0 && q.txFree() > 0) {
      const f = this.txQueue.shift()!;
      this.txTail = q.postTx([{ addr: this.o.busAddr!(f.gfn), len: f.len, cookie: f.gfn }]).tail;
      sent++;
    }
    this.stats.txFrames += sent;
    t = await this.refillRx(t);
    return { frames, notify: sent > 0, tNs: t };
  }

  private async onEventCdna(tNs: number) {
    let t = tNs;
    const frames: Array<{ bytes: Buffer; tNs: number }> = [];
    await this.cdnaRun(async () => {
      const tx = await this.o.cdna!.complete(false, t);
      t = this.chargeHypercall(t, tx.charges);
      for (const c of tx.completed) if (c.gfn !== 0) this.o.pages.give(c.gfn); // gfn 0: a planted foreign buffer
      this.cdnaTxOutstanding -= tx.completed.length;
      // room on the ring again: waiting frames go with the next enqueue
      while (this.cdnaWaiting.length > 0 && this.unsent.length + this.cdnaTxOutstanding < CDNA_RING - 1) this.unsent.push(this.cdnaWaiting.shift()!);
      const rx = await this.o.cdna!.complete(true, t);
      t = this.chargeHypercall(t, rx.charges);
      for (const c of rx.completed) {
        this.rxPosted--;
        if (c.gfn === 0 && this.refillOff) continue; // a foreign buffer the attack planted: not ours to read
        if (this.givenAway.has(c.gfn)) {
          this.hostile.rx[c.ok ? 'ok' : 'failed']++;
          continue;
        }
        if (c.ok && c.doneLen >= 14) {
          t = this.o.cpu.run(Math.max(t, c.doneNs), this.o.domain, [['nic_driver_rx', 1]]);
          frames.push({ bytes: this.o.mem.read(c.gfn, 0, c.doneLen), tNs: t });
          this.stats.rxFrames++;
        } else this.bump('rx_error');
        this.o.pages.give(c.gfn);
      }
    });
    t = await this.refillRx(t);
    return { frames, notify: this.unsent.length > 0, tNs: t };
  }

  /**
   * A hostile driver (issue: protection): stops posting its own receive buffers and hands the
   * device buffers in machine frames it does not own. Whether they reach the NIC is the
   * hypervisor's call (CDNA validation).
   */
  async hostileRx(mfns: number[], tNs: number): Promise<{ attempts: number; accepted: number; refused: number; statuses: number }> {
    if (this.o.mode !== 'cdna') return this.hostileQueue('rx', mfns, tNs);
    this.refillOff = true;
    let out = { attempts: mfns.length, accepted: 0, refused: 0, statuses: 0 };
    try {
      await this.cdnaRun(async () => {
        const r = await this.o.cdna!.enqueue(true, mfns.map((mfn) => ({ mfn, offset: 0, len: 2048 })), tNs);
        this.chargeHypercall(tNs, r.charges);
        out = { attempts: mfns.length, accepted: r.accepted, refused: mfns.length - r.accepted, statuses: r.status };
        if (r.accepted > 0) this.o.doorbell('rx', r.tail, tNs);
      });
    } finally {
      // nothing planted (the hypervisor refused every buffer): the driver goes on posting its own
      if (out.accepted === 0) this.refillOff = false;
    }
    return out;
  }

  /**
   * A hostile driver: a transmit descriptor pointing into machine frames it does not own, so
   * that the NIC would send the victim's memory onto the wire.
   */
  async hostileTx(mfns: number[], tNs: number): Promise<{ attempts: number; accepted: number; refused: number; statuses: number }> {
    if (this.o.mode !== 'cdna') return this.hostileQueue('tx', mfns, tNs);
    let out = { attempts: mfns.length, accepted: 0, refused: 0, statuses: 0 };
    await this.cdnaRun(async () => {
      const r = await this.o.cdna!.enqueue(false, mfns.map((mfn) => ({ mfn, offset: 0, len: 1514 })), tNs);
      this.chargeHypercall(tNs, r.charges);
      this.cdnaTxOutstanding += r.accepted;
      out = { attempts: mfns.length, accepted: r.accepted, refused: mfns.length - r.accepted, statuses: r.status };
      if (r.accepted > 0) this.o.doorbell('tx', r.tail, tNs);
    });
    return out;
  }

  /**
   * A hostile driver of its own rings (passthrough, native): descriptors carrying the machine
   * addresses of frames it does not own, which the ring takes unchecked. Whether the device
   * reaches them is the IOMMU's call (passthrough); with receive buffers the driver stops
   * posting its own until the device is done with these. `accepted`: descriptors on the ring.
   */
  private hostileQueue(ring: 'tx' | 'rx', mfns: number[], tNs: number) {
    const q = this.o.queue!;
    const bufs = mfns.map((mfn) => ({ addr: mfn * PAGE, len: ring === 'tx' ? 1514 : 2048, cookie: HOSTILE }));
    if (ring === 'rx') this.refillOff = true;
    const r = ring === 'tx' ? q.postTx(bufs) : q.postRx(bufs);
    this.hostile[ring].posted += r.accepted;
    if (ring === 'rx') this.rxPosted += r.accepted;
    if (ring === 'rx' && r.accepted === 0) this.refillOff = false;
    if (r.accepted > 0) this.o.doorbell(ring, r.tail, this.o.cpu.run(tNs, this.o.domain, [['mmio_write', 1]]));
    return { attempts: mfns.length, accepted: r.accepted, refused: mfns.length - r.accepted, statuses: 0 };
  }

  /**
   * A hostile CDNA driver: enqueues a receive buffer on a page of its own, then, while the
   * buffer is still enqueued, asks the hypervisor (`give`: a grant transfer to another
   * domain) to give the page away, so that the NIC's DMA would land in someone else's page.
   * CDNA's reference count on the enqueued page is what refuses it.
   */
  async hostileGiveAway(give: (gfn: number, tNs: number) => Promise<number>, tNs: number): Promise<{ gfn: number; status: number }> {
    if (this.o.mode !== 'cdna') throw new Error(`giving away a page under DMA needs a cdna queue set, not ${this.o.mode}`);
    const gfn = this.o.pages.take();
    if (gfn === undefined) throw new Error(`${this.o.domain}: no free page`);
    let enqueued = false;
    await this.cdnaRun(async () => {
      const r = await this.o.cdna!.enqueue(true, [{ gfn, offset: 0, len: 2048 }], tNs);
      this.chargeHypercall(tNs, r.charges);
      enqueued = r.accepted === 1;
      if (enqueued) {
        this.rxPosted++;
        this.o.doorbell('rx', r.tail, tNs);
      }
    });
    if (!enqueued) {
      this.o.pages.give(gfn);
      throw new Error(`${this.o.domain}: the hypervisor did not take a receive buffer on its own page ${gfn}`);
    }
    const status = await give(gfn, tNs);
    if (status === 0) {
      this.givenAway.add(gfn);
      this.hostile.rx.posted++;
    }
    // refused: the page stays ours and the buffer completes as any other
    return { gfn, status };
  }

  private refillOff = false;

  /** Keeps `rxBuffers` empty buffers posted (one doorbell for the batch). */
  private async refillRx(tNs: number): Promise<number> {
    if (this.refillOff) return tNs;
    const want = (this.o.rxBuffers ?? 128) - this.rxPosted;
    if (want <= 0) return tNs;
    const gfns: number[] = [];
    for (let i = 0; i < want; i++) {
      const g = this.o.pages.take();
      if (g === undefined) break;
      gfns.push(g);
    }
    if (gfns.length === 0) return tNs;
    let t = tNs;
    if (this.o.mode === 'cdna') {
      await this.cdnaRun(async () => {
        const r = await this.o.cdna!.enqueue(true, gfns.map((gfn) => ({ gfn, offset: 0, len: 2048 })), t);
        t = this.chargeHypercall(t, r.charges);
        for (const g of gfns.slice(r.accepted)) this.o.pages.give(g);
        this.rxPosted += r.accepted;
        if (r.accepted > 0) this.o.doorbell('rx', r.tail, t);
      });
      return t;
    }
    const r = this.o.queue!.postRx(gfns.map((gfn) => ({ addr: this.o.busAddr!(gfn), len: 2048, cookie: gfn })));
    for (const g of gfns.slice(r.accepted)) this.o.pages.give(g);
    this.rxPosted += r.accepted;
    if (r.accepted > 0) {
      t = this.o.cpu.run(t, this.o.domain, [['mmio_write', 1]]);
      this.o.doorbell('rx', r.tail, t);
    }
    return t;
  }

  /** CDNA hypercalls of this driver one at a time: each ring's order is the hypervisor's. */
  private cdnaRun(f: () => Promise<void>): Promise<void> {
    const next = this.serialCdna.run.then(f, f);
    this.serialCdna.run = next.catch(() => undefined);
    return next;
  }

  private chargeHypercall(t: number, charges: Array<[Primitive, number]>): number {
    return this.o.cpu.run(t, 'xen', charges.length > 0 ? charges : [['hypercall', 1]]);
  }

  private drop(reason: string, tNs: number) {
    this.bump(reason);
    return { notify: false, tNs, drop: reason };
  }

  private bump(reason: string): void {
    this.stats.drops[reason] = (this.stats.drops[reason] ?? 0) + 1;
  }
}
