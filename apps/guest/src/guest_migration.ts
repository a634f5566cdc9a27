// A pv guest's side of live migration, and the netfront connection it makes at boot and
// again on the host it moves to.
//
// The guest process stays the same OS process: it models the guest's vCPU and kernel, whose
// state (the network stack's connections, the apps) is not in the pages the hypervisors copy.
// What the real guest would find changed after the move, this process re-attaches to: the
// target host's hypervisor (a new domid, a new hypercall credential), its machine memory
// (the copied pages), its event-channel subject and its xenstore, under NATS permissions the
// toolstack has moved from the source host to the target host.
import type * as grpc from '@grpc/grpc-js';
import type { Cpu } from '@vnetlab/cost';
import { GuestKernel, MigratableNic } from '@vnetlab/guest';
import { GrantTableWriter } from '@vnetlab/hypervisor';
import { FileMachineMemory, GuestMemory, INVALID_MFN, PagePool, type MachineMemory } from '@vnetlab/memory';
import { Netfront, type RxMode } from '@vnetlab/netfront';
import type { NetStack } from '@vnetlab/netstack';
import { migration, netif, subjects, XENSTORE_BUCKET } from '@vnetlab/proto';
import { checkModelledTime, HypercallClient, KvStore, type Service } from '@vnetlab/runtime';
import { flowKey } from '@vnetlab/flows';
import { XenbusState, backendDir, frontendDir, setState, waitForState } from '@vnetlab/xenbus';

/** Where the guest runs: its host, its domain there, and that host's memory. */
export interface Placement {
  host: string;
  domid: number;
  hv: HypercallClient;
  mem: MachineMemory;
  gm: GuestMemory;
  grantFrames: number[];
}

export interface NetfrontLink {
  store: KvStore;
  host: string;
  domid: number;
  netfront: Netfront;
  hv: HypercallClient;
  mac: string;
  offload: { csum: boolean; tso: boolean };
  /** Called with the frontend's event-channel port before the rings are published. */
  beforeConnect(port: number): void;
  /** Revokes the grants an earlier run of this guest left in its table (after the backend let go of them). */
  endStaleGrants?(): number;
}

/** The guest's netfront towards dom0's netback, on its memory, grant table and pages. */
export function guestNetfront(o: { gm: GuestMemory; grants: GrantTableWriter; rxMode: RxMode; pages: PagePool; cpu: Cpu; domain: string; hv: HypercallClient }): Netfront {
  const hv = o.hv;
  return new Netfront({
    mem: o.gm,
    grants: o.grants,
    backendDomid: 0,
    rxMode: o.rxMode,
    pages: o.pages,
    cpu: o.cpu,
    domain: o.domain,
    hv: { acceptTransfer: (gref, gfn, tNs) => hv.acceptTransfer(gref, gfn, tNs) },
  });
}

/** xenbus, frontend side: waits for the backend, publishes the rings and the event channel, and waits until it is Connected. */
export async function connectNetfront(l: NetfrontLink): Promise<{ port: number }> {
  const fe = frontendDir(l.host, l.domid);
  const be = backendDir(l.host, 0, l.domid);
  // A frontend left connected by an earlier run of this guest (its process was killed and
  // started again): close it first, so that the backend lets go of the old rings and meets
  // this one afresh, as a reloaded netfront driver does.
  const was = Number(await l.store.read(`${fe}.state`));
  if (was >= XenbusState.InitWait && was <= XenbusState.Connected) {
    await setState(l.store, fe, XenbusState.Closing);
    await waitForState(l.store, be, [XenbusState.Closed]);
    await setState(l.store, fe, XenbusState.Closed);
    l.endStaleGrants?.();
  }
  await setState(l.store, fe, XenbusState.Initialising);
  await waitForState(l.store, be, [XenbusState.InitWait, XenbusState.Connected]);
  if (l.offload.csum || l.offload.tso) {
    // the offloads travel as multi-slot requests with a GSO extra: the backend must take them
    const offered = (key: string) => l.store.read(`${be}.${key}`).then((v) => v === '1');
    if (!(await offered('feature-sg')) || !(await offered('feature-gso-tcpv4'))) throw new Error(`the backend of dom${l.domid} offers no feature-sg / feature-gso-tcpv4 for the interface's offloads`);
  }
  const ev = await l.hv.evtchnAllocUnbound(0, 0);
  if (ev.status < 0) throw new Error(`evtchn_alloc_unbound failed: ${ev.status}`);
  l.beforeConnect(ev.port);
  const { txRingRef, rxRingRef } = l.netfront.setup();
  await l.store.write(`${fe}.tx-ring-ref`, String(txRingRef));
  await l.store.write(`${fe}.rx-ring-ref`, String(rxRingRef));
  await l.store.write(`${fe}.event-channel`, String(ev.port));
  await l.store.write(`${fe}.request-rx-copy`, l.netfront.rxMode === 'copy' ? '1' : '0');
  await l.store.write(`${fe}.mac`, l.mac);
  await setState(l.store, fe, XenbusState.Connected);
  await waitForState(l.store, be, [XenbusState.Connected]);
  return { port: ev.port };
}

/**
 * The domain's virtual interrupts: event-channel upcalls on `host` for domain `domid`, each on
 * the port the domain bound (`port()`; another is counted as a bad message).
 */
export function subscribeUpcalls(svc: Service, host: string, domid: number, kernel: GuestKernel, port: () => number): { unsubscribe(): void } {
  return svc.subscribe(subjects.evtchn(host, domid), netif.EventBatch.decode, async (batch) => {
    for (const e of batch.events) {
      checkModelledTime(e.tNs, 'event');
      if (e.port !== port()) {
        svc.metrics.badMessage('unknown_port', { port: e.port });
        continue;
      }
      await kernel.onEvent(e.tNs);
    }
    svc.metrics.setModelledTime(kernel.now);
  });
}

export interface GuestMigrationOptions {
  svc: Service;
  name: string;
  mac: string;
  rxMode: RxMode;
  offload: { csum: boolean; tso: boolean };
  kernel: GuestKernel;
  stack: NetStack;
  nic: MigratableNic;
  cpu: Cpu;
  pcpu: string;
  /** Pages kept for the guest kernel itself (not I/O buffers). */
  reserved: number;
  store: KvStore;
  placement: Placement;
  /** The subscription to the boot placement's event channel (the bus permission for it goes at the move). */
  events(): { unsubscribe(): void } | undefined;
  /** The guest runs somewhere new: its owner swaps what depends on the placement. */
  onPlaced(p: Placement): void;
  /** The guest's netfront and its event-channel port changed (a move, or a new backend). */
  onNetfront?(netfront: Netfront, port: number): void;
  /** Its backend answers a TX request before the frame leaves dom0 (netback's grant copy), not once it is sent. */
  answeredBeforeSent: boolean;
}

/**
 * Suspend on the toolstack's word (xenstore control/shutdown = "suspend", as a PV guest's
 * shutdown watch takes it), resume when the toolstack says where (GuestMigration.Resume).
 */
export class GuestMigration {
  private place: Placement;
  private suspendedNs?: number;
  private stopWatch?: () => void;
  private stopBackendWatch?: () => void;
  private events?: { unsubscribe(): void };
  /** From the suspend request to the resume: a backend that closes then is the migration's doing. */
  private migrating = false;
  /** A reconnect is queued or running. */
  private reconnecting = false;
  /** Suspend, resume and reconnect run one at a time, in the order asked. */
  private queue: Promise<unknown> = Promise.resolve();

  private serially<T>(fn: () => Promise<T>): Promise<T> {
    const r = this.queue.then(fn);
    this.queue = r.catch(() => undefined);
    return r;
  }

  constructor(private readonly o: GuestMigrationOptions) {
    this.place = o.placement;
  }

  private get log() {
    return this.o.svc.log;
  }

  /** Listens for the toolstack's suspend request on the current placement. */
  async watchSuspend(): Promise<void> {
    const dir = `${this.place.host}.local.domain.${this.place.domid}.control`;
    let suspending = false;
    this.stopWatch = await this.o.store.watch(`${dir}.shutdown`, (e) => {
      if (e.value !== 'suspend' || suspending) return;
      suspending = true;
      // from here until the resume the frontend's closing is the guest's own doing; a
      // reconnect under way finishes first
      this.migrating = true;
      void this.serially(() => this.suspend(dir)).catch((err) => this.log.error('suspend failed', { error: err }));
    });
  }

  /**
   * Suspends: I/O from here on is held; the frontend closes, so the backend sends what the
   * TX ring still holds and lets go of the rings; the last responses are taken; then the
   * guest says it is suspended, at its modelled time.
   */
  private async suspend(dir: string): Promise<void> {
    const { kernel, nic, store } = this.o;
    const at = Number(await store.read(`${dir}.shutdown-at-ns`)) || 0;
    await kernel.advanceTo(Math.max(at, kernel.now));
    nic.suspend();
    const fe = frontendDir(this.place.host, this.place.domid);
    const be = backendDir(this.place.host, 0, this.place.domid);
    await setState(store, fe, XenbusState.Closing);
    await waitForState(store, be, [XenbusState.Closed]);
    // responses the backend wrote before it closed: frames received, TX slots answered
    await kernel.onEvent(kernel.now);
    await setState(store, fe, XenbusState.Closed);
    // no upcall comes on this host's event channel any more
    (this.events ?? this.o.events())?.unsubscribe();
    this.suspendedNs = kernel.now;
    this.stopWatch?.();
    await store.write(`${dir}.shutdown`, '');
    await store.write(`${dir}.suspended`, String(Math.round(this.suspendedNs)));
    this.log.info('suspended for migration', { tNs: this.suspendedNs, held: nic.heldFrames });
  }

  /** Runs again on the host the toolstack names, from modelled time at_ns on. */
  resume(r: migration.ResumeRequest): Promise<migration.ResumeResponse> {
    return this.serially(() => this.resumeOn(r));
  }

  private async resumeOn(r: migration.ResumeRequest): Promise<migration.ResumeResponse> {
    const { svc, name, kernel, nic, cpu } = this.o;
    if (this.suspendedNs === undefined) throw new Error(`${name} is not suspended`);
    const boot = new HypercallClient(r.hypervisorAddr, 0, this.o.pcpu, r.domainToken);
    await boot.waitReady();
    const info = await boot.domain(name).finally(() => boot.close());
    const hv = new HypercallClient(r.hypervisorAddr, info.domid, this.o.pcpu, r.domainToken);
    const mem = new FileMachineMemory(info.memoryPath, info.memoryFrames);
    const gm = new GuestMemory(mem, info.p2m);
    await kernel.advanceTo(Math.max(r.atNs, kernel.now));
    let t = await this.populate(hv, gm, kernel.now, r.host);
    const netfront = this.newNetfront(hv, gm, new GrantTableWriter(mem, info.grantFrames));
    let port = -1;
    this.events = subscribeUpcalls(svc, r.host, info.domid, kernel, () => port);
    await connectNetfront({
      store: this.o.store, host: r.host, domid: info.domid, netfront, hv, mac: this.o.mac, offload: this.o.offload,
      beforeConnect: (p) => {
        port = p;
        nic.setNotify((tNs) => void hv.evtchnSend(p, tNs).catch((e) => this.log.warn('evtchn send failed', { error: e })));
      },
    });
    // the event-channel allocation and the ring set-up were hypercalls on our CPU
    t = cpu.run(Math.max(t, kernel.now), 'xen', [['hypercall', 2]]);
    await kernel.advanceTo(t);
    const held = nic.heldFrames;
    const flushed = nic.resume(netfront, kernel.now);
    for (const d of flushed.dropped) kernel.flows.dropped(`held ${name}`, d.reason);
    if (flushed.notify) nic.notify(flushed.tNs);
    await kernel.advanceTo(flushed.tNs);
    // tell the network where we are now: bridges and vswitches learn our MAC on the new port
    await kernel.sendRaw(this.o.stack.announce(kernel.now).frames);
    const old = this.place;
    this.place = { host: r.host, domid: info.domid, hv, mem, gm, grantFrames: info.grantFrames };
    this.o.onPlaced(this.place);
    old.hv.close();
    if (old.mem !== mem) old.mem.close();
    this.suspendedNs = undefined;
    await this.watchSuspend();
    this.migrating = false;
    await this.watchBackend();
    this.o.onNetfront?.(netfront, port);
    this.log.info('resumed after migration', { host: r.host, domid: info.domid, tNs: kernel.now, held });
    return { domid: info.domid, resumedNs: Math.round(kernel.now), framesQueued: held };
  }

  /** Pages given to the old backend for page flips have no frame: the balloon gets fresh ones. */
  private async populate(hv: HypercallClient, gm: GuestMemory, tNs: number, host: string): Promise<number> {
    let t = tNs;
    for (let gfn = 0; gfn < gm.pages; gfn++) {
      if (gm.mfnOf(gfn) !== INVALID_MFN) continue;
      const p = await hv.populatePhysmap(gfn, t);
      if (p.status !== 0) throw new Error(`populate_physmap of gfn ${gfn} on ${host}: status ${p.status}`);
      gm.setMfn(gfn, p.mfn);
      t = this.o.cpu.run(t, 'xen', p.charges.length ? p.charges : [['hypercall', 1]]);
    }
    return t;
  }

  /** A fresh netfront on every page the guest kernel does not keep for itself. */
  private newNetfront(hv: HypercallClient, gm: GuestMemory, grants: GrantTableWriter): Netfront {
    const pages = new PagePool(Array.from({ length: gm.pages }, (_, gfn) => gfn).slice(this.o.reserved));
    return guestNetfront({ gm, grants, rxMode: this.o.rxMode, pages, cpu: this.o.cpu, domain: this.o.name, hv });
  }

  /**
   * Watches the backend of the current placement: when it closes while this guest neither
   * suspends nor is connecting (its driver domain died and a new one says so), the guest
   * meets the new backend (reconnect).
   */
  async watchBackend(): Promise<void> {
    this.stopBackendWatch?.();
    const be = backendDir(this.place.host, 0, this.place.domid);
    const at = this.place;
    this.stopBackendWatch = await this.o.store.watch(`${be}.state`, (e) => {
      if (Number(e.value) !== XenbusState.Closed || this.migrating || this.reconnecting || this.place !== at) return;
      this.reconnecting = true;
      void this.serially(() => this.reconnectUntilConnected(be))
        .catch((err) => this.log.error('reconnect to the new backend failed', { error: err }))
        .finally(() => {
          this.reconnecting = false;
        });
    });
  }

  /**
   * Reconnects, and again while the backend is found closed after a try (its driver domain
   * restarted once more meanwhile, or a try timed out), a few times at most.
   */
  private async reconnectUntilConnected(be: string): Promise<void> {
    for (let attempt = 1; attempt <= 5 && !this.migrating; attempt++) {
      try {
        await this.reconnect();
      } catch (err) {
        this.log.warn('reconnect try failed', { attempt, error: err });
      }
      if (Number(await this.o.store.read(`${be}.state`)) !== XenbusState.Closed) return;
    }
    throw new Error('the backend stays closed');
  }

  /**
   * The backend went away under a connected frontend (its driver domain was killed and a new
   * one started): I/O is held from here on; what the dead backend did answer is taken; the
   * TX requests it never answered are written off, each counted as dropped (backend_gone)
   * against its flow; the stale grants are ended and a fresh netfront meets the new backend
   * through the store; the held frames go out on it, and a gratuitous ARP tells the new
   * bridge where this guest is (as netfront's netdev_notify_peers does on reconnect).
   */
  async reconnect(): Promise<{ lost: number; held: number }> {
    const { svc, name, kernel, nic } = this.o;
    const old = nic.device;
    nic.suspend();
    await kernel.onEvent(kernel.now);
    const lost = old instanceof Netfront ? old.abandon() : [];
    // a TX request netback never answered never left it when it answers after its copy (copy
    // mode); when it answers only once the frame is sent (multiqueue, map, noremap) the NIC may
    // still have sent it: those stay in flight, lost with the dead driver domain if lost at all
    if (this.o.answeredBeforeSent) for (const f of lost) kernel.flows.dropped(flowKey(f.head), 'backend_gone', f.frames);
    (this.events ?? this.o.events())?.unsubscribe();
    const p = this.place;
    const grants = new GrantTableWriter(p.mem, p.grantFrames);
    let t = await this.populate(p.hv, p.gm, kernel.now, p.host);
    const netfront = this.newNetfront(p.hv, p.gm, grants);
    let port = -1;
    this.events = subscribeUpcalls(svc, p.host, p.domid, kernel, () => port);
    await connectNetfront({
      store: this.o.store, host: p.host, domid: p.domid, netfront, hv: p.hv, mac: this.o.mac, offload: this.o.offload,
      endStaleGrants: () => grants.endAll(),
      beforeConnect: (q) => {
        port = q;
        nic.setNotify((tNs) => void p.hv.evtchnSend(q, tNs).catch((e) => this.log.warn('evtchn send failed', { error: e })));
      },
    });
    t = this.o.cpu.run(Math.max(t, kernel.now), 'xen', [['hypercall', 2]]);
    await kernel.advanceTo(t);
    const held = nic.heldFrames;
    const flushed = nic.resume(netfront, kernel.now);
    for (const d of flushed.dropped) kernel.flows.dropped(flowKey(d.frame), d.reason);
    if (flushed.notify) nic.notify(flushed.tNs);
    await kernel.advanceTo(flushed.tNs);
    await kernel.sendRaw(this.o.stack.announce(kernel.now).frames);
    this.o.onNetfront?.(netfront, port);
    this.log.warn('backend gone: reconnected to the new one', { lost: lost.length, held, port });
    return { lost: lost.length, held };
  }

  /** The GuestMigration gRPC service. */
  impl(): migration.GuestMigrationServer {
    return {
      resume: (call, cb) => {
        this.resume(call.request).then(
          (res) => cb(null, res),
          (e) => cb({ code: 9, details: (e as Error).message } as grpc.ServiceError, null),
        );
      },
    };
  }
}

/** The KV store of xenstore, for the guest's own directory. */
export async function xenstoreOf(svc: Service): Promise<KvStore> {
  return new KvStore(await svc.kv(XENSTORE_BUCKET));
}
