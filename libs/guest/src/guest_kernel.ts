// A guest domain's kernel as far as networking goes: its network device below (netfront,
// or a driver for its own NIC queue set), the network stack
// above, and the traffic applications (ping, UDP and TCP bulk) on top. The owner (the guest
// service) feeds it event-channel upcalls and gives it a way to notify the backend.
import type { Cpu } from '@vnetlab/cost';
import { FlowCounters, flowKey } from '@vnetlab/flows';
import type { Primitive } from '@vnetlab/cost';
import { NetStackError, type NetStack, type StackEvent, type StackOutput } from '@vnetlab/netstack';
import { Serial, Signal } from '@vnetlab/cost';
import { txWork, type FrameOffload, type InterfaceOffload } from './tx_offload.js';

export interface GuestKernelOptions {
  domain: string;                    // ledger name of this domain, e.g. "vm-a1"
  mac: string;
  /** The guest's network device: netfront (pv, multiqueue) or a NIC driver (cdna, passthrough, native). */
  netfront: GuestNic;
  /**
   * What telling the device costs and who pays: a hypercall under the hypervisor's share for
   * netfront's event channel (the default), an MMIO write of the guest's own for a NIC doorbell.
   */
  kickCost?: { domain: 'xen' | 'self'; charges: Array<[Primitive, number]> };
  /**
   * What an interrupt costs before the driver runs: a virtual interrupt delivered by the
   * hypervisor (the default); a physical one routed through it as well (a guest-owned
   * queue set); or the native kernel's own interrupt entry (no hypervisor at all).
   */
  upcallCost?: { domain: 'xen' | 'self'; charges: Array<[Primitive, number]> };
  stack: NetStack;
  cpu: Cpu;
  /** Sends the event-channel notification to the backend (a hypercall); fire and forget. */
  notify: (tNs: number) => void;
  /** How long (wall ms) to wait with nothing happening before jumping modelled time to the next timer. */
  idleTimerMs?: number;
  /**
   * What the interface offloads (pv's virtual offloads): checksums left to the backend, and
   * TCP segments up to 64 KiB cut below (the stack must be built with tsoMaxBytes for that).
   * Default: nothing, and the stack checksums every frame in software.
   */
  offload?: InterfaceOffload;
  /** Told every event of the stack (replies, round-trip samples, deliveries), as the kernel's own listeners are. */
  observe?: (e: StackEvent) => void;
}

/** A guest's network device as the kernel drives it. */
export interface GuestNic {
  /** Puts a frame on the device; `notify` says the device must be told (GuestKernelOptions.notify). */
  transmit(frame: Buffer, tNs: number, offload?: FrameOffload): { notify: boolean; tNs: number; queued?: boolean; drop?: string };
  /** The device's interrupt: received frames, and whether the device must be told of reposted buffers. */
  onEvent(tNs: number): Promise<{ frames: Array<{ bytes: Buffer; tNs: number }>; notify: boolean; tNs: number }>;
  /** Frames waiting for room on the device. */
  readonly txQueued: number;
}

/** Sees every frame the kernel hands its device (tx) or takes from it (rx), for captures and traces. */
export type KernelTap = (dir: 'tx' | 'rx', frame: Buffer, tNs: number, startNs: number) => void;

export interface PingReply { seq: number; rttNs: number; ok: boolean }
export interface PingResult { sent: number; received: number; replies: PingReply[] }

export interface BulkResult {
  flow: string;
  proto: 'udp' | 'tcp';
  bytesSent: number;
  framesSent: number;
  startNs: number;
  endNs: number;           // last frame handed to netfront (UDP) or last byte acked (TCP)
  retransmissions: number;
}

const MAX_PULL = 32;

/** The largest bulk the kernel's apps send (4 GiB): a bigger one could not finish within their timeouts. */
export const MAX_BULK_BYTES = 2 ** 32;
/** The modelled clock's range: beyond 2^53 ns a double no longer holds every nanosecond. */
const MAX_MODELLED_NS = Number.MAX_SAFE_INTEGER;

/** Refuses an operator's request before it does anything (a value no caller should send). */
function refuse(what: string, value: unknown, range: string): Promise<never> {
  return Promise.reject(new NetStackError('bad_argument', `${what} must be ${range}, got ${String(value)}`));
}
const isTime = (t: number) => Number.isFinite(t) && t >= 0 && t <= MAX_MODELLED_NS;

export class GuestKernel {
  readonly flows = new FlowCounters();
  /** The domain's notion of now: the latest modelled time it has worked at. */
  now = 0;
  private readonly serial = new Serial();
  private readonly progress = new Signal();
  private readonly listeners = new Set<(e: StackEvent) => void>();
  private idleTimer?: NodeJS.Timeout;
  private readonly counters = { eventsIn: 0, framesIn: 0, framesOut: 0, notifies: 0, notForUs: 0, forwarded: 0 };

  constructor(private readonly o: GuestKernelOptions) {
    if (o.observe) this.listeners.add(o.observe);
  }

  stats() {
    return { ...this.counters, now: this.now, pendingTx: this.o.netfront.txQueued };
  }

  /**
   * The operator acts at the lab's modelled time (the latest any service has reached): the
   * guest's clock catches up, so a command never starts in the lab's past.
   */
  advanceTo(tNs: number): Promise<void> {
    if (!isTime(tNs)) return refuse('the operator\'s modelled time', tNs, `in 0..${MAX_MODELLED_NS} ns`);
    return this.serial.run(() => this.seen(tNs));
  }

  /** An event-channel upcall from the backend at modelled time tNs. */
  onEvent(tNs: number): Promise<void> {
    return this.serial.run(() => this.handleEvent(tNs));
  }

  private async handleEvent(tNs: number): Promise<void> {
    this.counters.eventsIn++;
    // the upcall itself: the hypervisor delivers the virtual interrupt on our CPU, from the
    // event's modelled time on (the CPU model fits it around other work)
    const up = this.o.upcallCost ?? { domain: 'xen', charges: [['virq', 1]] };
    const tUp = this.o.cpu.run(tNs, up.domain === 'self' ? this.o.domain : 'xen', up.charges);
    const r = await this.o.netfront.onEvent(tUp);
    let t = r.tNs;
    let notify = r.notify;
    const out: Buffer[] = [];
    for (const f of r.frames) {
      const t0 = Math.max(f.tNs, t);
      // a packet this kernel routes on (ip_forward) costs a forwarding lookup, not a delivery up the stack
      const forward = this.o.stack.wouldForward(f.bytes);
      t = this.o.cpu.run(t0, this.o.domain, [[forward ? 'ip_forward' : 'stack_rx', 1]]);
      this.tap?.('rx', f.bytes, t, t0);
      const key = flowKey(f.bytes);
      if (!this.forUs(f.bytes)) {
        // a flooded copy of someone else's unicast frame: the bridge floods until it learns
        this.counters.notForUs++;
        this.flows.dropped(key, 'not_for_us');
        continue;
      }
      // a forwarded packet is neither delivered here nor sent anew: its flow passes through
      if (forward) this.counters.forwarded++;
      else {
        this.counters.framesIn++;
        this.flows.delivered(key, f.bytes.length, t);
      }
      this.collect(this.o.stack.receive(f.bytes, t), out);
    }
    this.seen(t);
    const tx = this.transmit(out, t);
    const pumped = this.pump(tx.t);
    if (notify || tx.notify || pumped.notify) this.kick(pumped.t);
    this.progress.fire();
    this.armIdleTimer();
  }

  private seen(t: number): void {
    if (t > this.now) this.now = t;
  }

  private forUs(frame: Buffer): boolean {
    if (frame.length < 6) return false;
    if (frame[0] & 1) return true; // broadcast / multicast
    const mac = this.o.mac;
    for (let i = 0; i < 6; i++) if (frame[i] !== parseInt(mac.slice(i * 3, i * 3 + 2), 16)) return false;
    return true;
  }

  private collect(out: StackOutput, frames: Buffer[]): void {
    frames.push(...out.frames);
    for (const e of out.events) {
      if (e.kind === 'drop') this.flows.dropped('stack', e.reason);
      for (const l of this.listeners) l(e);
    }
  }

  /** Hands frames to netfront from modelled time t on; says whether to notify the backend. */
  private transmit(frames: Buffer[], t: number): { notify: boolean; t: number } {
    let notify = false;
    for (const f of frames) {
      const forwarded = this.o.stack.isForwarded(f);
      // a forwarded packet's work (ip_forward) was charged when it came in, and its checksums stand
      const work = forwarded ? { charges: [], wireBytes: [f.length] } : txWork(f, this.o.offload, this.o.stack.gsoSizeOf(f));
      t = this.o.cpu.run(t, this.o.domain, work.charges);
      const key = flowKey(f);
      // a TSO segment is counted as the frames it becomes on the wire (what receivers count)
      if (!forwarded) for (const n of work.wireBytes) this.flows.sent(key, n, t);
      const t0 = t;
      const r = this.o.netfront.transmit(f, t, 'offload' in work ? work.offload : undefined);
      if (!r.drop) this.tap?.('tx', f, Math.max(t, r.tNs), t0);
      t = Math.max(t, r.tNs);
      if (r.drop) this.flows.dropped(key, r.drop, work.wireBytes.length);
      else this.counters.framesOut++;
      notify = r.notify || notify;
    }
    this.seen(t);
    return { notify, t };
  }

  /** Lets the stack's bulk senders (UDP and TCP) fill the ring while it has room. */
  private pump(t: number): { notify: boolean; t: number } {
    let notify = false;
    while (this.o.netfront.txQueued === 0) {
      const out = this.o.stack.pullFrames(t, MAX_PULL);
      if (out.frames.length === 0) break;
      const frames: Buffer[] = [];
      this.collect(out, frames);
      const r = this.transmit(frames, t);
      notify = r.notify || notify;
      t = r.t;
    }
    return { notify, t };
  }

  private kick(t: number): void {
    this.counters.notifies++;
    const cost = this.o.kickCost ?? { domain: 'xen', charges: [['hypercall', 1], ['evtchn_send', 1]] };
    const end = this.o.cpu.run(t, cost.domain === 'self' ? this.o.domain : 'xen', cost.charges);
    this.seen(end);
    this.o.notify(end);
  }

  /** Runs stack output produced by an API call (ping, UDP send) on the serial queue. */
  private send(make: (tNs: number) => StackOutput): Promise<void> {
    return this.serial.run(() => {
      const out: Buffer[] = [];
      this.collect(make(this.now), out);
      const tx = this.transmit(out, this.now);
      const pumped = this.pump(tx.t);
      if (tx.notify || pumped.notify) this.kick(pumped.t);
      this.armIdleTimer();
    });
  }

  /**
   * Modelled time only moves when signals arrive. When nothing arrives for a while but the
   * stack has a timer pending (a TCP retransmission), the domain has nothing else to do
   * until then: jump to it.
   */
  private armIdleTimer(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    const next = this.o.stack.nextTimerNs();
    if (next === undefined) return;
    this.idleTimer = setTimeout(() => {
      void this.serial.run(() => {
        const t = Math.max(this.now, this.o.stack.nextTimerNs() ?? this.now);
        this.seen(t);
        const out: Buffer[] = [];
        this.collect(this.o.stack.fireTimers(t), out);
        const tx = this.transmit(out, t);
        const pumped = this.pump(tx.t);
        if (tx.notify || pumped.notify) this.kick(pumped.t);
        this.progress.fire();
        this.armIdleTimer();
      });
    }, this.o.idleTimerMs ?? 1000);
    this.idleTimer.unref();
  }

  private tap?: KernelTap;

  /** Watches the frames the kernel sends and receives (undefined: stop watching). */
  setTap(tap: KernelTap | undefined): void {
    this.tap = tap;
  }

  /**
   * Sends one frame the caller built (a trace's probe) at the domain's now, as the stack's
   * own frames go: stack_tx, the device, a notification if the device asks for one.
   */
  sendFrame(frame: Buffer): Promise<{ startNs: number; tNs: number }> {
    return this.serial.run(() => {
      const startNs = this.now;
      const tx = this.transmit([frame], startNs);
      const pumped = this.pump(tx.t);
      if (tx.notify || pumped.notify) this.kick(pumped.t);
      this.armIdleTimer();
      return { startNs, tNs: this.now };
    });
  }

  private on(l: (e: StackEvent) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  /** Packets to `dst` go through the gateway `via` from now on (ip route add DST via VIA); undefined: directly again. */
  route(dst: string, via: string | undefined): Promise<void> {
    return this.serial.run(() => {
      if (via === undefined) this.o.stack.deleteRoute(dst);
      else this.o.stack.addRoute(dst, via);
    });
  }

  /** Sends frames exactly as given (a hostile guest forging headers, for the protection demonstrations). */
  sendRaw(frames: Buffer[]): Promise<void> {
    return this.send(() => ({ frames, events: [] }));
  }

  async ping(dst: string, count: number, size = 56, timeoutMs = 2000): Promise<PingResult> {
    // ICMP sequence numbers are 16 bits: a larger count would run for days and then fail
    if (!Number.isInteger(count) || count < 1 || count > 0xffff) return refuse('a ping count', count, 'an integer in 1..65535');
    const replies: PingReply[] = [];
    for (let seq = 1; seq <= count; seq++) {
      let got: PingReply | undefined;
      const off = this.on((e) => {
        if (e.kind === 'echo-reply' && e.from === dst && e.seq === seq) got = { seq, rttNs: e.rttNs, ok: true };
      });
      await this.send((t) => this.o.stack.ping(dst, seq, t, size));
      const deadline = Date.now() + timeoutMs;
      while (!got && Date.now() < deadline) await this.progress.wait(Math.max(1, deadline - Date.now()));
      off();
      replies.push(got ?? { seq, rttNs: 0, ok: false });
    }
    return { sent: count, received: replies.filter((r) => r.ok).length, replies };
  }

  /** Sends `bytes` of UDP payload in datagrams of msgSize, paced by ring space. */
  async udpBulk(dst: string, dstPort: number, bytes: number, msgSize: number, timeoutMs = 600_000): Promise<BulkResult> {
    if (!Number.isSafeInteger(bytes) || bytes < 0 || bytes > MAX_BULK_BYTES) return refuse('a bulk\'s bytes', bytes, `an integer in 0..${MAX_BULK_BYTES}`);
    await this.resolve(dst);
    const stack = this.o.stack;
    let id = '';
    let startNs = 0;
    await this.serial.run(() => {
      id = stack.startUdpBulk(dst, dstPort, bytes, msgSize).flow;
      startNs = this.now;
    });
    await this.send(() => ({ frames: [], events: [] }));
    const deadline = Date.now() + timeoutMs;
    while (!(stack.udpBulkDone(id) && this.o.netfront.txQueued === 0) && Date.now() < deadline) {
      await this.progress.wait(200);
      await this.serial.run(() => {
        const p = this.pump(this.now);
        if (p.notify) this.kick(p.t);
      });
    }
    const st = stack.flowStats(id);
    if (!stack.udpBulkDone(id)) throw new Error(`udp bulk to ${dst}:${dstPort} did not finish in ${timeoutMs} ms (${st?.bytesSent ?? 0} of ${bytes} bytes sent)`);
    return { flow: this.wireFlow(id), proto: 'udp', bytesSent: st?.bytesSent ?? 0, framesSent: st?.datagrams ?? 0, startNs, endNs: this.now, retransmissions: 0 };
  }

  /** A TCP bulk transfer: connect, send `bytes`, wait until every byte is acknowledged. */
  async tcpBulk(dst: string, dstPort: number, bytes: number, timeoutMs = 600_000): Promise<BulkResult> {
    if (!Number.isSafeInteger(bytes) || bytes < 0 || bytes > MAX_BULK_BYTES) return refuse('a bulk\'s bytes', bytes, `an integer in 0..${MAX_BULK_BYTES}`);
    await this.resolve(dst);
    const stack = this.o.stack;
    let id = '';
    let startNs = 0;
    let endNs = 0;
    let failed = '';
    let finished = false;
    const off = this.on((e) => {
      if (e.kind === 'tcp-sent-all' && e.flow === id) {
        finished = true;
        endNs = e.tNs;
      } else if (e.kind === 'tcp-failed' && e.flow === id) failed = e.reason;
    });
    await this.send((t) => {
      startNs = t;
      const r = stack.startTcpBulk(dst, dstPort, bytes, t);
      id = r.flow;
      return r.out;
    });
    const deadline = Date.now() + timeoutMs;
    while (!finished && !failed && Date.now() < deadline) await this.progress.wait(1000);
    off();
    const st = stack.flowStats(id);
    if (!finished) throw new Error(`tcp bulk to ${dst}:${dstPort} ${failed ? 'failed: ' + failed : `did not finish in ${timeoutMs} ms`} (${st?.bytesAcked ?? 0} of ${bytes} bytes acked)`);
    return { flow: this.wireFlow(id), proto: 'tcp', bytesSent: st?.bytesSent ?? bytes, framesSent: st?.tcp && 'segmentsSent' in st.tcp ? Number((st.tcp as { segmentsSent: number }).segmentsSent) : 0, startNs, endNs, retransmissions: st?.retransmissions ?? 0 };
  }

  /** The stack names flows "udp:a:p>b:q"; on the wire (and in the counters) they are "udp a:p>b:q". */
  private wireFlow(id: string): string {
    return id.replace(':', ' ');
  }

  /** ARP-resolves dst before a bulk transfer so that its first frames are not held back. */
  private async resolve(dst: string): Promise<void> {
    if (this.o.stack.arpEntries().some((e) => e.ip === dst)) return;
    const r = await this.ping(dst, 1, 8);
    if (r.received === 0) throw new Error(`${dst} does not answer (no ARP reply or echo reply)`);
  }
}
