// The driver domain's data path (dom0 / IOVM): a netback per guest interface, the switch
// (the Ethernet bridge or Open vSwitch), and the physical NIC's driver, wired the way Linux
// wires them. Transport-free: the owner delivers event-channel upcalls and carries
// hypercalls, notifications and doorbells.
import type { Bridge } from '@vnetlab/bridge';
import { Serial, type Cpu } from '@vnetlab/cost';
import { FlowCounters, type FlowOp, flowKey } from '@vnetlab/flows';
import { skbFree, type SkBuff } from '@vnetlab/frames';
import type { GuestMemory, PagePool } from '@vnetlab/memory';
import { Netback, type HypervisorPort, type MultiqueueBackend, type RxMode, type TxMode } from '@vnetlab/netback';
import type { EmulatedNicModel } from './emulated_nic.js';
import type { MachineMemory } from '@vnetlab/memory';
import { PAGE_SIZE } from '@vnetlab/memory';
import { BridgeSwitch } from './bridge_switch.js';
import { Dom0Endpoint, LOCAL_PORT } from './dom0_endpoint.js';
import type { DomainSwitch, SwitchDecision } from './domain_switch.js';
import { ledgerDelta, type FrameEvent, type FrameObserver } from './frame_observer.js';
import { EMULATED, NO_OFFLOAD, VIF_RX, prepareXmit, wireFrames, type XmitFeatures } from './xmit_offload.js';

/** The physical NIC as the bridge sees it: the NIC driver of the driver domain. */
export interface Uplink {
  /** Puts frames on the NIC's TX ring; returns how many it took (the rest stay queued). */
  transmit(skbs: SkBuff[], tNs: number): { accepted: number; tNs: number };
  /** Handles the NIC's interrupt: received frames, TX buffers the NIC is done with. */
  onInterrupt(tNs: number): { rx: SkBuff[]; freedGfns: number[]; tNs: number };
  /** Free TX descriptors. */
  txRoom(): number;
  /** Writes the ring tails to the NIC again (a doorbell the NIC may have missed). */
  ringAgain?(tNs: number): void;
  /** The NIC was replaced: the driver starts over on the same ring pages (what its TX ring held is lost). */
  reset?(): { lost: SkBuff[]; freedGfns: number[]; rings: { txRingAddr: number; rxRingAddr: number; size: number } };
  /** Posts RX buffers and tells the NIC. */
  repost?(tNs: number): void;
  /** The NIC died: gives up what is on its TX ring (lost frames, pages to hand back). */
  abandon?(): { lost: SkBuff[]; freedGfns: number[] };
  /** What the NIC does itself (checksum insertion, TSO); what it lacks dom0 does in software. Default: nothing. */
  offload?: XmitFeatures;
}

/** How netback's TX took a frame, for traces. */
const TX_HOW: Record<TxMode, string> = {
  copy: 'into a dom0 page (grant copy)',
  map: 'by mapping the guest\'s pages into dom0 (grant map; the NIC sends from them)',
  noremap: 'copying the header into a dom0 page and mapping the rest for the NIC only (no remapping)',
};

/** A NIC as a port of the switch: its name, its driver, and the event channel of its interrupt. */
export interface UplinkPort { name: string; driver: Uplink; port: number }

/** An uplink with the frames waiting for its TX ring (its qdisc). */
interface UplinkState extends UplinkPort {
  qdisc: SkBuff[];
  /** Link down: frames wait in the qdisc (held, not dropped) until it is back or redirected. */
  held: boolean;
  /** Redirected: frames go to another host's driver domain instead of the NIC. */
  via?: RedirectSender;
}

/**
 * Carries frames to another host's driver domain over the network (seed 004's redirect, and
 * the temporary backend's way back); returns the modelled time the last one left.
 */
export type RedirectSender = (frames: Array<{ bytes: Buffer; tNs: number }>, tNs: number) => void;

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
  /** How netback takes the guest's TX bytes: grant copy (default), grant map, or map for the device only (noremap). */
  txMode?: TxMode;
  /** What this backend offered its frontend (feature-sg, feature-gso-tcpv4): multi-slot and GSO TX packets. */
  features?: { sg: boolean; gsoTcpv4: boolean };
  vni?: number;          // the VXLAN network of the vif (vswitch only)
  /** The MAC the toolstack gave the interface: with protection on, frames from it must carry it. */
  mac?: string;
  /** The interface's IPv4 address (a routing driver domain names the vif's routes by it). */
  ip?: string;
}

export interface DriverDomainOptions {
  mem: MachineMemory;
  dom0: GuestMemory;
  pages: PagePool;
  cpu: Cpu;
  /** The switch joining the vifs and the uplink; `bridge` is shorthand for a BridgeSwitch. */
  switch?: DomainSwitch;
  bridge?: Bridge;
  uplink?: UplinkPort;
  /** Several NICs on one switch (dom0 forwards between them): each its own driver, interrupt and queue. */
  uplinks?: UplinkPort[];
  /** Told about every frame while it is active (traces). */
  observer?: FrameObserver;
  /** Told the frames at each switch port while it is active (captures). */
  portTap?: PortTap;
  ports: DriverDomainPorts;
  domain?: string;
  /** Frames that may wait for the NIC (Linux's txqueuelen). */
  txQueueLen?: number;
  /** Frames that may wait for a guest's RX buffers. */
  rxBacklog?: number;
  /** Told every flow count as it happens (a FlowJournal keeps them past the process). */
  flowSink?: (op: FlowOp) => void;
  /** The domain's own address on this switch (a port of its own): it receives traffic as an endpoint. */
  endpoint?: { mac: string; ip: string; sinkPort: number };
}

/**
 * Frames as each port of dom0's switch sees them, as tcpdump on that port shows them:
 * received (before the switch decides) and sent (the switch's output, before the qdisc). A
 * tunnel port shows the inner frame; the uplink the outer one. Asked only while `active`.
 */
export interface PortTap {
  readonly active: boolean;
  frame(port: string, direction: 'rx' | 'tx', bytes: Buffer, tNs: number): void;
}

interface Vif extends VifSpec {
  netback: Netback;
  backlog: SkBuff[];
}

export class DriverDomain {
  readonly flows: FlowCounters;
  now = 0;
  private readonly vifs = new Map<string, Vif>();
  private readonly byPort = new Map<number, Vif>();
  /** Ports served by something other than a bridged vif (multiqueue vifs' frontend and queue-set interrupts). */
  private readonly handlers = new Map<number, (tNs: number) => Promise<void>>();
  private readonly uplinks = new Map<string, UplinkState>();
  private readonly uplinkByIrq = new Map<number, UplinkState>();
  private readonly txBlocked = new Set<Vif>();
  /** Vifs with mapped TX packets whose skbs were freed and that wait to be answered. */
  private readonly txReleased = new Set<string>();
  private readonly domain: string;
  readonly counters = { events: 0, nicInterrupts: 0, forwarded: 0, flooded: 0, clones: 0, redirectedOut: 0, redirectedIn: 0, endpointTimerErrors: 0 };
  /** Ports to another host's driver domain (the temporary backend's side of a redirect). */
  private readonly remotes = new Map<string, RedirectSender>();
  // events and vif set-up arrive concurrently; ring and queue state take one at a time
  private readonly serial = new Serial();

  readonly switch: DomainSwitch;

  constructor(private readonly o: DriverDomainOptions) {
    this.flows = new FlowCounters(o.flowSink);
    this.domain = o.domain ?? 'dom0';
    const sw = o.switch ?? (o.bridge ? new BridgeSwitch(o.bridge) : undefined);
    if (!sw) throw new Error('a driver domain needs a switch (switch or bridge)');
    this.switch = sw;
    for (const u of [...(o.uplink ? [o.uplink] : []), ...(o.uplinks ?? [])]) {
      if (this.uplinks.has(u.name)) throw new Error(`uplink ${u.name} given twice`);
      const state: UplinkState = { ...u, qdisc: [], held: false };
      this.uplinks.set(u.name, state);
      this.uplinkByIrq.set(u.port, state);
      sw.addPort({ name: u.name, kind: 'uplink' });
    }
    if (o.endpoint) {
      this.endpoint = new Dom0Endpoint({ ...o.endpoint, cpu: o.cpu, domain: this.domain, flows: this.flows });
      sw.addPort({ name: LOCAL_PORT, kind: 'vif', mac: o.endpoint.mac, ip: o.endpoint.ip });
    }
  }

  /** The domain's own interface on this switch, when it has an address here. */
  readonly endpoint?: Dom0Endpoint;
  private endpointTimer?: ReturnType<typeof setTimeout>;
  private closed = false;

  /** True while an observer wants to hear about frames. */
  private get watched(): boolean {
    return this.o.observer?.active === true;
  }

  private report(e: FrameEvent): void {
    try {
      this.o.observer?.frame(e);
    } catch {
      /* a watcher's failure never disturbs the data path */
    }
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
      ...(spec.features ? { features: spec.features } : {}),
      ...(spec.txMode ? { txMode: spec.txMode } : {}),
      onTxDone: () => this.txReleased.add(spec.name),
      domain: this.domain,
    });
    netback.ringChecks = this.protectionOn;
    const r = await netback.connect(txRingRef, rxRingRef, tNs);
    this.seen(r.tNs);
    const vif: Vif = { ...spec, netback, backlog: [] };
    this.vifs.set(spec.name, vif);
    this.byPort.set(spec.port, vif);
    this.switch.addPort({ name: spec.name, kind: 'vif', ...(spec.vni !== undefined ? { vni: spec.vni } : { mac: spec.mac }), ...(spec.ip ? { ip: spec.ip } : {}) });
  }

  /**
   * Detaches a bridged vif whose frontend closed (a guest suspended to migrate, or gone):
   * the TX requests still on its ring go out first, frames waiting for its RX buffers are
   * dropped with `reason` (counted per flow), its switch port goes, and its ring pages are
   * unmapped so that the guest's domain can be destroyed.
   */
  removeVif(name: string, tNs: number, reason = 'vif_disconnected'): Promise<void> {
    return this.serial.run(async () => {
      const vif = this.vifs.get(name);
      if (!vif) throw new Error(`no vif ${name}`);
      let t = Math.max(tNs, this.now);
      for (let more = vif.netback.connected && !vif.netback.disabled; more; ) {
        const r = await vif.netback.onTxEvent(t);
        t = r.tNs;
        this.seen(t);
        await this.bridgeFrames(vif.name, this.antiSpoof(vif, r.skbs));
        // no progress (dom0 out of buffer pages): what is left stays unsent
        more = r.more === true && r.skbs.length > 0;
      }
      for (const s of vif.backlog.splice(0)) this.drop(s, reason);
      await this.settleTx(t);
      this.vifs.delete(name);
      this.byPort.delete(vif.port);
      this.txBlocked.delete(vif);
      this.switch.removePort(name);
      if (vif.netback.connected) this.seen((await vif.netback.disconnect(t)).tNs);
    });
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
  /** Emulated NICs' device models on the bridge, with the event channel of their guest's interrupt. */
  private readonly emulated = new Map<string, { model: EmulatedNicModel; port?: number }>();

  /** An emulated NIC (its device model in this domain) as a bridge port; its interrupt's port may come later. */
  addEmulatedPort(name: string, model: EmulatedNicModel, port?: number, mac?: string, ip?: string): void {
    this.emulated.set(name, { model, port });
    this.switch.addPort({ name, kind: 'vif', ...(mac ? { mac } : {}), ...(ip ? { ip } : {}) });
  }

  /** The event channel of an emulated NIC's interrupt, once its guest has published it. */
  bindEmulatedPort(name: string, port: number): void {
    const dev = this.emulated.get(name);
    if (dev) dev.port = port;
  }

  /** A trapped register access of an emulated NIC's guest, forwarded here (an ioreq). */
  onIoreq(name: string, reg: number, value: number, write: boolean, tNs: number): Promise<boolean> {
    const dev = this.emulated.get(name);
    if (!dev) return Promise.resolve(false);
    return this.serial
      .run(async () => {
        const r = dev.model.onIoreq(reg, value, write, tNs);
        this.seen(r.tNs);
        for (const [reason, n] of Object.entries(r.drops)) this.flows.dropped('ioemu ' + name, reason, n);
        if (r.interrupt && dev.port !== undefined) this.o.ports.notify(dev.port, r.tNs);
        await this.bridgeFrames(name, r.skbs);
        await this.settleTx(this.now);
      })
      .then(() => true);
  }

  vifStats() {
    return [
      ...[...this.vifs.values()].map((v) => ({ name: v.name, domid: v.frontDomid, backlog: v.backlog.length, ...v.netback.stats })),
      ...[...this.mqVifs].map(([name, b]) => ({ name, domid: b.frontDomid, backlog: 0, ...b.stats })),
    ];
  }

  /** An event-channel upcall on `port` at modelled time tNs; false for a port nobody bound. */
  onEvent(port: number, tNs: number): Promise<boolean> {
    if (!this.uplinkByIrq.has(port) && !this.byPort.has(port) && !this.handlers.has(port)) return Promise.resolve(false);
    return this.serial.run(() => this.handleEvent(port, tNs)).then(() => true);
  }

  private async handleEvent(port: number, tNs: number): Promise<void> {
    this.counters.events++;
    // Work starts at the event's modelled time; the CPU model queues it behind (or fits it
    // between) whatever else that CPU runs.
    const t = this.o.cpu.run(tNs, 'xen', [['virq', 1]]);
    this.seen(t);
    const up = this.uplinkByIrq.get(port);
    if (up) return this.onNicInterrupt(up, t);
    const handler = this.handlers.get(port);
    if (handler) return handler(t);
    const vif = this.byPort.get(port);
    if (!vif) return; // a port nobody bound: Xen would not deliver it either
    // the guest may have posted RX buffers: frames waiting for them go first
    if (vif.backlog.length) await this.deliverTo(vif, [], t);
    await this.pullTx(vif, t);
    await this.settleTx(this.now);
  }

  /**
   * Answers the mapped TX packets whose frames were freed since (sent, or dropped anywhere):
   * their grants unmapped and the guest notified (netback's dealloc work). Every entry point
   * that may free an skb ends here, or a guest's TX ring would stall.
   */
  private async settleTx(t: number): Promise<void> {
    for (const name of [...this.txReleased]) {
      this.txReleased.delete(name);
      const vif = this.vifs.get(name);
      if (!vif) continue;
      const r = await vif.netback.releaseTx(Math.max(t, this.now));
      this.seen(r.tNs);
      if (r.notify) this.o.ports.notify(vif.port, r.tNs);
    }
  }

  /** The latest modelled time this domain has worked at (for metrics and reports). */
  private seen(t: number): void {
    if (t > this.now) this.now = t;
  }

  /** guest → bridge: takes the guest's TX requests unless the NIC queue is full. */
  /** Whether the driver domain enforces its checks (source-MAC filtering); off only for demonstrations. */
  private protectionOn = true;
  /** The host's checks: the anti-spoofing filter here, and the switch's pinned guest MACs. */
  get protection(): boolean {
    return this.protectionOn;
  }
  set protection(on: boolean) {
    this.protectionOn = on;
    this.switch.setProtection?.(on);
    // netback's producer-index check: off, a forged index makes dom0 serve stale slots
    for (const v of this.vifs.values()) v.netback.ringChecks = on;
  }
  /** Frames a guest sent under another's MAC, by guest (the anti-spoofing filter's refusals). */
  readonly spoofed = new Map<number, number>();

  /**
   * The anti-spoofing filter (what Xen's vif scripts install with ebtables): a frame from a
   * vif must carry the vif's own MAC as its source, or the bridge would learn the victim's
   * address on the attacker's port and hand it the victim's traffic.
   */
  private antiSpoof(vif: Vif, skbs: SkBuff[]): SkBuff[] {
    if (!this.protection || !vif.mac) return skbs;
    const mac = vif.mac.toLowerCase();
    return skbs.filter((skb) => {
      const src = skb.bytes.length >= 12 ? [...skb.bytes.subarray(6, 12)].map((b) => b.toString(16).padStart(2, '0')).join(':') : '';
      if (src === mac) return true;
      this.spoofed.set(vif.frontDomid, (this.spoofed.get(vif.frontDomid) ?? 0) + 1);
      this.drop(skb, 'spoofed_source_mac');
      return false;
    });
  }

  private async pullTx(vif: Vif, t: number): Promise<void> {
    if (this.longestQdisc() >= (this.o.txQueueLen ?? 1000) - 256) {
      this.txBlocked.add(vif); // backpressure: the guest's ring fills, the guest waits
      return;
    }
    this.txBlocked.delete(vif);
    const before = this.watched ? this.o.cpu.ledger.snapshot() : undefined;
    const r = await vif.netback.onTxEvent(t);
    this.seen(r.tNs);
    if (before && r.skbs.length > 0) {
      const charges = ledgerDelta(before, this.o.cpu.ledger);
      for (const skb of r.skbs) this.report({ step: 'netback_tx', bytes: skb.bytes, port: vif.name, startNs: t, tNs: skb.tNs, charges, batch: r.skbs.length, detail: `netback took ${skb.bytes.length} bytes from ${vif.name}'s TX ring ${TX_HOW[vif.txMode ?? 'copy']}` });
    }
    if (r.notify) this.o.ports.notify(vif.port, r.tNs);
    await this.bridgeFrames(vif.name, this.antiSpoof(vif, r.skbs));
    if (r.more) this.txBlocked.add(vif);
  }

  /** Frames waiting in the fullest NIC queue: a guest's TX waits while any is near full. */
  private longestQdisc(): number {
    let n = 0;
    for (const u of this.uplinks.values()) n = Math.max(n, u.qdisc.length);
    return n;
  }

  private async onNicInterrupt(up: UplinkState, tNs: number): Promise<void> {
    this.counters.nicInterrupts++;
    const before = this.watched ? this.o.cpu.ledger.snapshot() : undefined;
    const t = this.o.cpu.run(tNs, 'xen', [['pirq', 1]]);
    const r = up.driver.onInterrupt(t);
    this.seen(r.tNs);
    if (before && r.rx.length > 0) {
      const charges = ledgerDelta(before, this.o.cpu.ledger);
      for (const skb of r.rx) this.report({ step: 'nic_driver_rx', bytes: skb.bytes, port: up.name, startNs: tNs, tNs: skb.tNs, charges, batch: r.rx.length, detail: `NIC interrupt: the driver took ${skb.bytes.length} bytes from ${up.name}'s RX ring and reposted a buffer` });
    }
    for (const g of r.freedGfns) this.o.pages.give(g);
    await this.settleTx(r.tNs); // guests' frames the NIC sent from (mapped TX) are answered
    await this.bridgeFrames(up.name, r.rx);
    this.flushUplink(up, r.tNs); // TX slots the NIC gave back take waiting frames from now on
    for (const vif of [...this.txBlocked]) await this.pullTx(vif, r.tNs);
    await this.settleTx(this.now);
  }

  /** Runs frames through the switch and hands them to their output ports. */
  private async bridgeFrames(inPort: string, skbs: SkBuff[]): Promise<void> {
    if (skbs.length === 0) return;
    // the vswitch may encapsulate, and the lab's NICs have no tunnel offloads: a large
    // segment is cut and a partial checksum completed in software before it
    if (this.switch.kind !== 'bridge') skbs = skbs.flatMap((s) => (s.gso || s.csumPartial ? this.xmit(s, NO_OFFLOAD) : [s]));
    const perVif = new Map<Vif, SkBuff[]>();
    const local: SkBuff[] = [];
    for (const skb of skbs) {
      // The switch decides first, then its cost runs on dom0's CPU: the charges depend on
      // the decision (a cache hit costs one flow lookup, a miss a classifier walk).
      const fwd: SwitchDecision = this.switch.forward(inPort, skb.bytes, skb.tNs);
      const start = skb.tNs;
      const t = this.o.cpu.run(skb.tNs, this.domain, fwd.charges);
      skb.tNs = t;
      this.seen(t);
      if (this.o.portTap?.active) this.tapPorts(inPort, skb.bytes, fwd, start, t);
      if (this.watched) {
        const charges = fwd.charges.map(([p, n]) => ({ primitive: p, count: n, cycles: this.o.cpu.ledger.costs.cycles(p, n), domain: this.domain }));
        const where = fwd.outputs.map((o) => (o.encap ? `${o.port} (VXLAN vni ${o.encap.vni} to ${o.encap.remoteIp})` : o.port));
        this.report({ step: 'switch', bytes: skb.bytes, port: inPort, startNs: start, tNs: t, charges, batch: 1, switchSteps: fwd.steps, outputs: where,
          detail: `${this.switch.kind} on ${inPort}: ${where.length ? `to ${where.join(', ')}` : `dropped (${fwd.drops[0] ?? 'no_port'})`}` });
      }
      if (fwd.outputs.length === 0) {
        this.drop(skb, fwd.drops[0] ?? 'no_port');
        continue;
      }
      if (fwd.flooded) this.counters.flooded++;
      else this.counters.forwarded++;
      // One page per output: extra outputs get a private copy (skb_copy), counted as extra
      // frames of the flow so that the conservation rule still balances.
      fwd.outputs.forEach((out, i) => {
        const port = out.port;
        const copy = i === 0 ? this.place(skb, out.bytes) : this.clone(skb, out.bytes);
        if (!copy) return;
        const up = this.uplinks.get(port);
        const remote = this.remotes.get(port);
        if (port === LOCAL_PORT && this.endpoint) local.push(...this.xmit(copy, VIF_RX));
        else if (up) up.qdisc.push(...this.xmit(copy, up.driver.offload ?? NO_OFFLOAD));
        else if (remote) this.sendRemote(remote, this.xmit(copy, NO_OFFLOAD));
        else {
          const dev = this.emulated.get(port);
          if (dev) {
            const ready = this.xmit(copy, EMULATED);
            if (ready.length === 0) return;
            const r = dev.model.deliver(ready, Math.max(...ready.map((s) => s.tNs)));
            for (const g of r.freedGfns) this.o.pages.give(g);
            for (const [reason, n] of Object.entries(r.drops)) this.flows.dropped(flowKey(copy.bytes), reason, n);
            this.seen(r.tNs);
            if (r.interrupt && dev.port !== undefined) this.o.ports.notify(dev.port, r.tNs);
            return;
          }
          const vif = this.vifs.get(port);
          if (!vif) return this.drop(copy, 'no_port');
          const list = perVif.get(vif) ?? [];
          list.push(...this.xmit(copy, VIF_RX));
          perVif.set(vif, list);
        }
      });
    }
    for (const [vif, list] of perVif) await this.deliverTo(vif, list, Math.max(...list.map((s) => s.tNs)));
    if (local.length > 0) await this.deliverLocal(local);
    this.flushQdisc();
  }

  /** Copies one switch decision's frames to the port tap: in at `inPort`, out at each output. */
  private tapPorts(inPort: string, bytes: Buffer, fwd: SwitchDecision, rxNs: number, txNs: number): void {
    const tap = this.o.portTap!;
    try {
      tap.frame(inPort, 'rx', bytes, rxNs);
      if (fwd.tunnelIn) tap.frame(fwd.tunnelIn.port, 'rx', fwd.tunnelIn.inner, rxNs);
      for (const out of fwd.outputs) {
        if (out.encap?.tunnelPort && out.encap.inner) tap.frame(out.encap.tunnelPort, 'tx', out.encap.inner, txNs);
        tap.frame(out.port, 'tx', out.bytes, txNs);
      }
    } catch {
      /* a capture's failure never disturbs the data path */
    }
  }

  /** The ports of this switch: the NICs, the vifs and emulated NICs, redirect ports, dom0's own, a tunnel port. */
  switchPorts(): string[] {
    return [
      ...this.uplinks.keys(),
      ...(this.switch.tunnelPort ? [this.switch.tunnelPort] : []),
      ...this.vifs.keys(),
      ...this.emulated.keys(),
      ...this.remotes.keys(),
      ...(this.endpoint ? [LOCAL_PORT] : []),
    ];
  }

  /** Frames for the domain's own address: up its stack; what it answers goes back out through the switch. */
  private async deliverLocal(skbs: SkBuff[]): Promise<void> {
    const ep = this.endpoint!;
    const r = ep.receive(skbs, Math.max(...skbs.map((s) => s.tNs)));
    for (const skb of skbs) for (const g of skbFree(skb)) this.o.pages.give(g);
    this.seen(r.tNs);
    await this.bridgeFrames(LOCAL_PORT, r.frames.map((f) => this.inOwnPage(f)));
    this.armEndpointTimer();
  }

  /** A frame dom0's own stack built, in a page of dom0's (as an skb is), so that the NIC can DMA from it. */
  private inOwnPage(f: { bytes: Buffer; tNs: number }): SkBuff {
    const gfn = f.bytes.length <= PAGE_SIZE ? this.o.pages.take() : undefined;
    if (gfn === undefined) return f; // no page free: the NIC driver bounces it into one of its own
    this.o.dom0.write(gfn, 0, f.bytes);
    return { bytes: f.bytes, tNs: f.tNs, page: { gfn, offset: 0 } };
  }

  /** Stops what runs on its own (the endpoint's stack timers). */
  close(): void {
    if (this.endpointTimer) clearTimeout(this.endpointTimer);
    this.endpointTimer = undefined;
    this.closed = true;
  }

  /**
   * Modelled time moves only when signals arrive: when the stack has a timer pending (a
   * delayed ACK, an ARP retry) and nothing comes, run it at its time.
   */
  private armEndpointTimer(): void {
    const ep = this.endpoint!;
    if (this.endpointTimer) clearTimeout(this.endpointTimer);
    const next = ep.stack.nextTimerNs();
    if (next === undefined) return;
    if (this.closed) return;
    // after a wall-clock pause as long as a guest kernel's: frames still on their way land first
    this.endpointTimer = setTimeout(() => {
      this.serial.run(async () => {
        const r = ep.fireTimers(Math.max(this.now, ep.stack.nextTimerNs() ?? this.now));
        this.seen(r.tNs);
        await this.bridgeFrames(LOCAL_PORT, r.frames.map((f) => this.inOwnPage(f)));
        this.armEndpointTimer();
      }).catch(() => {
        // a failure of one timer round is counted, never fatal: the next frame re-arms it
        this.counters.endpointTimerErrors++;
      });
    }, 1000);
    this.endpointTimer.unref?.();
  }

  /**
   * The frame's own buffer carries its first output: unchanged, pulled past the outer
   * headers (a decapsulated inner frame is a view into the same page, as skb_pull leaves
   * it), or with headers pushed in front (an encapsulated frame, written where the frame
   * sits; the header writes are the vxlan_encap the switch charged).
   */
  private place(skb: SkBuff, bytes: Buffer): SkBuff {
    if (bytes === skb.bytes) return skb;
    const off = bytes.byteOffset - skb.bytes.byteOffset;
    if (skb.page && bytes.buffer === skb.bytes.buffer && off >= 0 && off + bytes.length <= skb.bytes.length) {
      return { bytes, tNs: skb.tNs, page: { gfn: skb.page.gfn, offset: skb.page.offset + off } };
    }
    if (skb.page && skb.page.offset + bytes.length <= PAGE_SIZE) {
      this.o.dom0.write(skb.page.gfn, skb.page.offset, bytes);
      return { bytes, tNs: skb.tNs, page: skb.page };
    }
    // does not fit the page: the NIC driver copies it into pages of its own
    for (const g of skbFree(skb)) this.o.pages.give(g);
    return { bytes, tNs: skb.tNs };
  }

  private clone(skb: SkBuff, bytes = skb.bytes): SkBuff | undefined {
    // the copy keeps the original's offload state (a large segment stays one, to be cut later)
    const offload = bytes === skb.bytes ? { ...(skb.gso ? { gso: skb.gso } : {}), ...(skb.csumPartial ? { csumPartial: true } : {}) } : {};
    // the copy counts as extra frames of the flow: as many as the frames it stands for on the wire
    const frames = bytes === skb.bytes ? wireFrames(skb) : 1;
    const countSent = () => { for (let i = 0; i < frames; i++) this.flows.sent(flowKey(bytes), i === 0 ? bytes.length : 0); };
    const gfn = bytes.length <= PAGE_SIZE ? this.o.pages.take() : undefined;
    if (gfn === undefined && bytes.length <= PAGE_SIZE) {
      countSent();
      this.flows.dropped(flowKey(bytes), 'no_buffer', frames);
      return undefined;
    }
    if (gfn !== undefined) this.o.dom0.write(gfn, 0, bytes);
    const t = this.o.cpu.run(skb.tNs, this.domain, [['copy_byte', bytes.length]], { foreign: skb.zerocopy !== undefined });
    this.seen(t);
    this.counters.clones++;
    countSent();
    // a copy larger than a page stays in dom0's private memory: the NIC driver bounces it
    return gfn !== undefined ? { bytes, tNs: t, page: { gfn, offset: 0 }, ...offload } : { bytes: Buffer.from(bytes), tNs: t, ...offload };
  }

  /** A frame is dropped: its pages go back, and every wire frame it stands for is counted. */
  private drop(skb: SkBuff, reason: string): void {
    this.flows.dropped(flowKey(skb.bytes), reason, wireFrames(skb));
    for (const g of skbFree(skb)) this.o.pages.give(g);
  }

  /**
   * Readies a frame for an output device that may lack an offload it still needs (software
   * GSO, checksum completion on dom0's CPU); what cannot be readied is dropped here.
   */
  private xmit(skb: SkBuff, features: XmitFeatures): SkBuff[] {
    if (!skb.gso && !skb.csumPartial && !skb.frags) return [skb];
    const r = prepareXmit(skb, features, { dom0: this.o.dom0, pages: this.o.pages, cpu: this.o.cpu, domain: this.domain });
    if (r.drop) this.drop(skb, r.drop);
    if (r.lost > 0) this.flows.dropped(flowKey(skb.bytes), 'no_buffer', r.lost);
    for (const s of r.skbs) this.seen(s.tNs);
    return r.skbs;
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
    const before = this.watched ? this.o.cpu.ledger.snapshot() : undefined;
    const start = Math.max(t, ...now.map((s) => s.tNs));
    const r = await vif.netback.deliver(now, start);
    this.seen(r.tNs);
    if (before) {
      const charges = ledgerDelta(before, this.o.cpu.ledger);
      for (const s of now) this.report({ step: 'netback_rx', bytes: s.bytes, port: vif.name, startNs: start, tNs: r.tNs, charges, batch: now.length, detail: `netback put ${s.bytes.length} bytes into a receive buffer ${vif.name}'s guest posted, by ${vif.rxMode === 'flip' ? 'page flip' : 'grant copy'}` });
    }
    for (const g of r.freedGfns) this.o.pages.give(g);
    for (const [reason, n] of Object.entries(r.drops)) this.flows.dropped('rx ' + vif.name, reason, n);
    if (r.notify) this.o.ports.notify(vif.port, r.tNs);
    return r.tNs;
  }

  private flushQdisc(t = 0): void {
    for (const up of this.uplinks.values()) this.flushUplink(up, t);
  }

  // ---- NIC failure (seed 004): hold, redirect over the network, restore -------------

  /** The fault agent saw `name`'s link go down (hold its frames) or come back (send them). */
  holdUplink(name: string, hold: boolean, tNs: number): Promise<void> {
    return this.serial.run(async () => {
      const up = this.uplink(name);
      up.held = hold;
      if (!hold) up.via = undefined;
      await this.resume(up, tNs);
    });
  }

  /** Frames for `name` go through `via` (another host's driver domain), or to the NIC again (undefined). */
  redirectUplink(name: string, via: RedirectSender | undefined, tNs: number): Promise<void> {
    return this.serial.run(async () => {
      const up = this.uplink(name);
      up.via = via;
      await this.resume(up, tNs);
    });
  }

  /** Frames a remote driver domain sent for this side's guests, as if `port` had received them. */
  fromRemote(port: string, frames: Array<{ bytes: Buffer; tNs: number }>): Promise<void> {
    return this.serial.run(async () => {
      if (!this.uplinks.has(port) && !this.remotes.has(port)) throw new Error(`no uplink or remote port ${port}`);
      const skbs: SkBuff[] = [];
      for (const f of frames) {
        this.seen(f.tNs);
        // received through the management NIC and unwrapped: its driver's work, a page of dom0's
        const t = this.o.cpu.run(f.tNs, this.domain, [['nic_driver_rx', 1]]);
        const gfn = this.o.pages.take();
        if (gfn === undefined) {
          this.flows.dropped(flowKey(f.bytes), 'no_buffer');
          continue;
        }
        this.o.dom0.write(gfn, 0, f.bytes);
        skbs.push({ bytes: Buffer.from(f.bytes), tNs: t, page: { gfn, offset: 0 } });
      }
      this.counters.redirectedIn += skbs.length;
      await this.bridgeFrames(port, skbs);
      await this.settleTx(this.now);
    });
  }

  /** A switch port whose frames go to another host's driver domain (the temporary backend's side). */
  addRemotePort(name: string, send: RedirectSender): void {
    this.remotes.set(name, send);
    this.switch.addPort({ name, kind: 'vif' });
  }

  /**
   * Removes a remote port once the frames already queued for it have gone through it (the
   * serial queue): a burst that arrived just before the release is not lost with the port.
   */
  removeRemotePort(name: string): Promise<void> {
    return this.serial.run(async () => {
      if (this.remotes.delete(name)) this.switch.removePort?.(name);
    });
  }

  /**
   * The NIC behind `name` was replaced (its process died and came back knowing nothing): the
   * driver starts over, `configure` tells the new NIC where the rings are, RX buffers are
   * posted again. What was on the old TX ring is counted lost with `reason`.
   */
  resetUplink(name: string, reason: string, configure: (rings: { txRingAddr: number; rxRingAddr: number; size: number }) => Promise<void>): Promise<void> {
    return this.serial.run(async () => {
      const up = this.uplink(name);
      if (!up.driver.reset) throw new Error(`uplink ${name} cannot be reset`);
      const r = up.driver.reset();
      for (const skb of r.lost) this.flows.dropped(flowKey(skb.bytes), reason, wireFrames(skb));
      for (const g of r.freedGfns) this.o.pages.give(g);
      await this.settleTx(this.now);
      await configure(r.rings);
      up.driver.repost?.(this.now);
    });
  }

  /**
   * Looks at every ring as if each bound port had fired, and rings each NIC's doorbells
   * again: after signals may have been lost (the bus restarted), nothing waits for one that
   * will never come. Spurious looks find nothing to do.
   */
  rescan(tNs: number): Promise<void> {
    return this.serial.run(async () => {
      const t = Math.max(tNs, this.now);
      for (const up of this.uplinks.values()) {
        up.driver.ringAgain?.(t);
        await this.handleEvent(up.port, t);
      }
      for (const port of [...this.byPort.keys(), ...this.handlers.keys()]) await this.handleEvent(port, t);
    });
  }

  /**
   * The NIC behind `name` is dead (silent): the frames on its TX ring will never leave. They
   * are counted lost with `reason` and their pages come back; returns how many.
   */
  abandonUplink(name: string, reason: string): Promise<number> {
    return this.serial.run(async () => {
      const r = this.uplink(name).driver.abandon?.() ?? { lost: [], freedGfns: [] };
      for (const skb of r.lost) this.flows.dropped(flowKey(skb.bytes), reason, wireFrames(skb));
      for (const g of r.freedGfns) this.o.pages.give(g);
      await this.settleTx(this.now);
      return r.lost.length;
    });
  }

  /** Frames this domain sends itself on a NIC (gratuitous ARPs announcing where guests now are). */
  sendOnUplink(name: string, frames: Buffer[], tNs: number): Promise<void> {
    return this.serial.run(async () => {
      const up = this.uplink(name);
      for (const bytes of frames) {
        this.flows.sent(flowKey(bytes), bytes.length, tNs);
        up.qdisc.push({ bytes, tNs });
      }
      this.flushUplink(up, tNs);
      await this.settleTx(this.now);
    });
  }

  /** Frames waiting on NICs whose link is down. */
  heldFrames(): number {
    let n = 0;
    for (const u of this.uplinks.values()) if (u.held && !u.via) n += u.qdisc.length;
    return n;
  }

  private uplink(name: string): UplinkState {
    const up = this.uplinks.get(name);
    if (!up) throw new Error(`no uplink ${name}`);
    return up;
  }

  /** After a change of an uplink's state: what waited goes where it now can, and guests may send again. */
  private async resume(up: UplinkState, tNs: number): Promise<void> {
    this.seen(tNs);
    this.flushUplink(up, tNs);
    for (const vif of [...this.txBlocked]) await this.pullTx(vif, tNs);
    await this.settleTx(this.now);
  }

  /** Hands frames to a redirect: the tunnel's header and the management NIC's driver, per frame. */
  private sendRemote(send: RedirectSender, skbs: SkBuff[]): void {
    if (skbs.length === 0) return;
    const from = Math.max(...skbs.map((s) => s.tNs));
    const t = this.o.cpu.run(from, this.domain, [['vxlan_encap', skbs.length], ['nic_driver_tx', skbs.length]]);
    this.seen(t);
    this.counters.redirectedOut += skbs.length;
    // the bytes leave in the message; dom0's pages go back
    send(skbs.map((s) => ({ bytes: s.bytes, tNs: t })), t);
    for (const s of skbs) for (const g of skbFree(s)) this.o.pages.give(g);
  }

  /** Moves waiting frames onto one NIC's TX ring while it has room; beyond txqueuelen they are dropped. */
  private flushUplink(up: UplinkState, t = 0): void {
    const max = this.o.txQueueLen ?? 1000;
    for (const s of up.qdisc.splice(max)) this.drop(s, 'qdisc_full');
    if (up.qdisc.length === 0) return;
    if (up.via) {
      // redirected: everything waiting leaves through the other host, GSO cut in software first
      this.sendRemote(up.via, up.qdisc.splice(0).flatMap((s) => this.xmit(s, NO_OFFLOAD)));
      return;
    }
    if (up.held) return;
    const n = Math.min(up.qdisc.length, up.driver.txRoom());
    if (n === 0) return;
    const batch = up.qdisc.splice(0, n);
    const before = this.watched ? this.o.cpu.ledger.snapshot() : undefined;
    const from = Math.max(t, ...batch.map((s) => s.tNs));
    const start = this.o.cpu.run(from, this.domain, [['nic_driver_tx', batch.length]]);
    const r = up.driver.transmit(batch, start);
    this.seen(r.tNs);
    if (before) {
      const charges = ledgerDelta(before, this.o.cpu.ledger);
      for (const s of batch.slice(0, r.accepted)) this.report({ step: 'nic_driver_tx', bytes: s.bytes, port: up.name, startNs: from, tNs: r.tNs, charges, batch: r.accepted, detail: `the NIC driver put ${s.bytes.length} bytes on ${up.name}'s TX ring${s.page ? ' (zero copy: the NIC DMAs the page)' : ' (copied into a driver buffer)'} and rang the doorbell` });
    }
    // anything the driver did not take goes back to the head of the queue
    if (r.accepted < batch.length) up.qdisc.unshift(...batch.slice(r.accepted));
  }
}
