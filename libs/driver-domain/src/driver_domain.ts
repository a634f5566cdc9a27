// The driver domain's data path (dom0 / IOVM): a netback per guest interface, the Ethernet
// bridge, and the physical NIC's driver, wired the way Linux wires them. Transport-free: the
// owner delivers event-channel upcalls and carries hypercalls, notifications and doorbells.
import type { Bridge } from '@vnetlab/bridge';
import { Serial, type Cpu } from '@vnetlab/cost';
import { FlowCounters, flowKey } from '@vnetlab/flows';
import type { SkBuff } from '@vnetlab/frames';
import type { GuestMemory, PagePool } from '@vnetlab/memory';
import { Netback, type HypervisorPort, type MultiqueueBackend, type RxMode } from '@vnetlab/netback';
import type { MachineMemory } from '@vnetlab/memory';

/** The physical NIC as the bridge sees it: the NIC driver of the driver domain. */
export interface Uplink {
  /** Puts frames on the NIC's TX ring; returns how many it took (the rest stay queued). */
  transmit(skbs: SkBuff[], tNs: number): { accepted: number; tNs: number };
  /** Handles the NIC's interrupt: received frames, TX buffers the NIC is done with. */
  onInterrupt(tNs: number): { rx: SkBuff[]; freedGfns: number[]; tNs: number };
  /** Free TX descriptors. */
  txRoom(): number;
}

export interface DriverDomainPorts {
  hv: HypervisorPort;
  /** Sends an event-channel notification on one of dom0's ports (fire and forget). */
  notify(port: number, tNs: number): void;
}

export interface VifSpec {
  name: string;          // bridge port name, e.g. "vif1.0"
  frontDomid: number;
  port: number;          // dom0's local event-channel port bound to the guest
  rxMode: RxMode;
}

export interface DriverDomainOptions {
  mem: MachineMemory;
  dom0: GuestMemory;
  pages: PagePool;
  cpu: Cpu;
  bridge: Bridge;
  uplink?: { name: string; driver: Uplink; port: number };
  ports: DriverDomainPorts;
  domain?: string;
  /** Frames that may wait for the NIC (Linux's txqueuelen). */
  txQueueLen?: number;
  /** Frames that may wait for a guest's RX buffers. */
  rxBacklog?: number;
}

interface Vif extends VifSpec {
  netback: Netback;
  backlog: SkBuff[];
}

export class DriverDomain {
  readonly flows = new FlowCounters();
  now = 0;
  private readonly vifs = new Map<string, Vif>();
  private readonly byPort = new Map<number, Vif>();
  /** Ports served by something other than a bridged vif (multiqueue vifs' frontend and queue-set interrupts). */
  private readonly handlers = new Map<number, (tNs: number) => Promise<void>>();
  private readonly qdisc: SkBuff[] = [];
  private readonly txBlocked = new Set<Vif>();
  private readonly domain: string;
  readonly counters = { events: 0, nicInterrupts: 0, forwarded: 0, flooded: 0, clones: 0 };
  // events and vif set-up arrive concurrently; ring and queue state take one at a time
  private readonly serial = new Serial();

  constructor(private readonly o: DriverDomainOptions) {
    this.domain = o.domain ?? 'dom0';
    if (o.uplink) o.bridge.addPort(o.uplink.name);
  }

  /** Connects the backend of a guest interface (xenbus: frontend Connected → map rings). */
  addVif(spec: VifSpec, txRingRef: number, rxRingRef: number, tNs: number): Promise<void> {
    return this.serial.run(() => this.connectVif(spec, txRingRef, rxRingRef, tNs));
  }

  private async connectVif(spec: VifSpec, txRingRef: number, rxRingRef: number, tNs: number): Promise<void> {
    const netback = new Netback({
      frontDomid: spec.frontDomid,
      mem: this.o.mem,
      dom0: this.o.dom0,
      pages: this.o.pages,
      hv: this.o.ports.hv,
      cpu: this.o.cpu,
      rxMode: spec.rxMode,
      domain: this.domain,
    });
    const r = await netback.connect(txRingRef, rxRingRef, tNs);
    this.seen(r.tNs);
    const vif: Vif = { ...spec, netback, backlog: [] };
    this.vifs.set(spec.name, vif);
    this.byPort.set(spec.port, vif);
    this.o.bridge.addPort(spec.name);
  }

  /**
   * A guest interface with its own NIC queue set (multiqueue): no bridge port. `port` is the
   * event channel to the guest, `irqPort` the queue set's interrupt.
   */
  addMultiqueueVif(spec: { name: string; port: number; irqPort: number }, backend: MultiqueueBackend): void {
    const run = async (r: Promise<{ notify: boolean; tNs: number }>) => {
      const { notify, tNs } = await r;
      this.seen(tNs);
      if (notify) this.o.ports.notify(spec.port, tNs);
    };
    this.handlers.set(spec.port, (t) => run(backend.onFrontendEvent(t)));
    this.handlers.set(spec.irqPort, (t) => run(backend.onQueueInterrupt(t)));
    this.mqVifs.set(spec.name, backend);
  }

  private readonly mqVifs = new Map<string, MultiqueueBackend>();

  vifStats() {
    return [
      ...[...this.vifs.values()].map((v) => ({ name: v.name, domid: v.frontDomid, backlog: v.backlog.length, ...v.netback.stats })),
      ...[...this.mqVifs].map(([name, b]) => ({ name, domid: b.frontDomid, backlog: 0, ...b.stats })),
    ];
  }

  /** An event-channel upcall on `port` at modelled time tNs; false for a port nobody bound. */
  onEvent(port: number, tNs: number): Promise<boolean> {
    if (port !== this.o.uplink?.port && !this.byPort.has(port) && !this.handlers.has(port)) return Promise.resolve(false);
    return this.serial.run(() => this.handleEvent(port, tNs)).then(() => true);
  }

  private async handleEvent(port: number, tNs: number): Promise<void> {
    this.counters.events++;
    // Work starts at the event's modelled time; the CPU model queues it behind (or fits it
    // between) whatever else that CPU runs.
    const t = this.o.cpu.run(tNs, 'xen', [['virq', 1]]);
    this.seen(t);
    if (this.o.uplink && port === this.o.uplink.port) return this.onNicInterrupt(t);
    const handler = this.handlers.get(port);
    if (handler) return handler(t);
    const vif = this.byPort.get(port);
    if (!vif) return; // a port nobody bound: Xen would not deliver it either
    // the guest may have posted RX buffers: frames waiting for them go first
    if (vif.backlog.length) await this.deliverTo(vif, [], t);
    await this.pullTx(vif, t);
  }

  /** The latest modelled time this domain has worked at (for metrics and reports). */
  private seen(t: number): void {
    if (t > this.now) this.now = t;
  }

  /** guest → bridge: takes the guest's TX requests unless the NIC queue is full. */
  private async pullTx(vif: Vif, t: number): Promise<void> {
    if (this.qdisc.length >= (this.o.txQueueLen ?? 1000) - 256) {
      this.txBlocked.add(vif); // backpressure: the guest's ring fills, the guest waits
      return;
    }
    this.txBlocked.delete(vif);
    const r = await vif.netback.onTxEvent(t);
    this.seen(r.tNs);
    if (r.notify) this.o.ports.notify(vif.port, r.tNs);
    await this.bridgeFrames(vif.name, r.skbs);
    if (r.more) this.txBlocked.add(vif);
  }

  private async onNicInterrupt(tNs: number): Promise<void> {
    const up = this.o.uplink!;
    this.counters.nicInterrupts++;
    const t = this.o.cpu.run(tNs, 'xen', [['pirq', 1]]);
    const r = up.driver.onInterrupt(t);
    this.seen(r.tNs);
    for (const g of r.freedGfns) this.o.pages.give(g);
    await this.bridgeFrames(up.name, r.rx);
    this.flushQdisc(r.tNs); // TX slots the NIC gave back take waiting frames from now on
    for (const vif of [...this.txBlocked]) await this.pullTx(vif, r.tNs);
  }

  /** Runs frames through the bridge and hands them to their output ports. */
  private async bridgeFrames(inPort: string, skbs: SkBuff[]): Promise<void> {
    if (skbs.length === 0) return;
    const perVif = new Map<Vif, SkBuff[]>();
    for (const skb of skbs) {
      const t = this.o.cpu.run(skb.tNs, this.domain, [['bridge_lookup', 1]]);
      skb.tNs = t;
      this.seen(t);
      const fwd = this.o.bridge.forward(inPort, skb.bytes, t);
      if (fwd.drop || fwd.out.length === 0) {
        this.drop(skb, fwd.drop ?? 'no_port');
        continue;
      }
      if (fwd.flooded) this.counters.flooded++;
      else this.counters.forwarded++;
      // One page per output: extra outputs get a private copy (skb_copy), counted as extra
      // frames of the flow so that the conservation rule still balances.
      fwd.out.forEach((port, i) => {
        const copy = i === 0 ? skb : this.clone(skb);
        if (!copy) return;
        if (port === this.o.uplink?.name) this.qdisc.push(copy);
        else {
          const vif = this.vifs.get(port);
          if (!vif) return this.drop(copy, 'no_port');
          const list = perVif.get(vif) ?? [];
          list.push(copy);
          perVif.set(vif, list);
        }
      });
    }
    for (const [vif, list] of perVif) await this.deliverTo(vif, list, Math.max(...list.map((s) => s.tNs)));
    this.flushQdisc();
  }

  private clone(skb: SkBuff): SkBuff | undefined {
    const gfn = this.o.pages.take();
    if (gfn === undefined) {
      this.flows.sent(flowKey(skb.bytes), skb.bytes.length);
      this.flows.dropped(flowKey(skb.bytes), 'no_buffer');
      return undefined;
    }
    this.o.dom0.write(gfn, 0, skb.bytes);
    const t = this.o.cpu.run(skb.tNs, this.domain, [['copy_byte', skb.bytes.length]]);
    this.seen(t);
    this.counters.clones++;
    this.flows.sent(flowKey(skb.bytes), skb.bytes.length);
    return { bytes: skb.bytes, tNs: t, page: { gfn, offset: 0 } };
  }

  private drop(skb: SkBuff, reason: string): void {
    this.flows.dropped(flowKey(skb.bytes), reason);
    if (skb.page) this.o.pages.give(skb.page.gfn);
  }

  private async deliverTo(vif: Vif, skbs: SkBuff[], t: number): Promise<void> {
    t = await this.deliverOnce(vif, skbs, t);
    // Frames left waiting for RX buffers: ask the guest to tell us when it posts some (and
    // go on now if it already has, or the event would never come).
    while (vif.backlog.length > 0 && vif.netback.armRx()) t = await this.deliverOnce(vif, [], t);
  }

  /** Delivers what the guest has buffers for; returns the modelled time it finished. */
  private async deliverOnce(vif: Vif, skbs: SkBuff[], t: number): Promise<number> {
    const all = vif.backlog.concat(skbs);
    vif.backlog = [];
    const room = vif.netback.rxRequestsAvailable();
    const now = all.slice(0, room);
    const later = all.slice(room);
    const max = this.o.rxBacklog ?? 256;
    for (const s of later.slice(max)) this.drop(s, 'rx_backlog_full');
    vif.backlog = later.slice(0, max);
    if (now.length === 0) return t;
    // a frame that waited for the guest's buffers goes no earlier than this event
    const r = await vif.netback.deliver(now, Math.max(t, ...now.map((s) => s.tNs)));
    this.seen(r.tNs);
    for (const g of r.freedGfns) this.o.pages.give(g);
    for (const [reason, n] of Object.entries(r.drops)) this.flows.dropped('rx ' + vif.name, reason, n);
    if (r.notify) this.o.ports.notify(vif.port, r.tNs);
    return r.tNs;
  }

  private flushQdisc(t = 0): void {
    const up = this.o.uplink;
    if (!up) {
      for (const s of this.qdisc.splice(0)) this.drop(s, 'no_uplink');
      return;
    }
    const max = this.o.txQueueLen ?? 1000;
    for (const s of this.qdisc.splice(max)) this.drop(s, 'qdisc_full');
    if (this.qdisc.length === 0) return;
    const n = Math.min(this.qdisc.length, up.driver.txRoom());
    if (n === 0) return;
    const batch = this.qdisc.splice(0, n);
    const start = this.o.cpu.run(Math.max(t, ...batch.map((s) => s.tNs)), this.domain, [['nic_driver_tx', batch.length]]);
    const r = up.driver.transmit(batch, start);
    this.seen(r.tNs);
    // anything the driver did not take goes back to the head of the queue
    if (r.accepted < batch.length) this.qdisc.unshift(...batch.slice(r.accepted));
  }
}
