// A guest domain (domU): its RAM in the host's machine memory, netfront with shared rings,
// a small network stack, and traffic apps the controller drives over gRPC.
import { createHash } from 'node:crypto';
import type * as grpc from '@grpc/grpc-js';
import { CostTable, Cpu, Ledger } from '@vnetlab/cost';
import { DirectNic, GuestKernel, MigratableNic } from '@vnetlab/guest';
import { E1000, QueueSetDriver } from '@vnetlab/nic';
import { GrantTableWriter } from '@vnetlab/hypervisor';
import { FileMachineMemory, GuestMemory, PagePool } from '@vnetlab/memory';
import { GSO_MAX_FRAME, Netfront } from '@vnetlab/netfront';
import { NetStack, SINK_PORT } from '@vnetlab/netstack';
import { control, migration, pcie, protection, subjects, XENSTORE_BUCKET } from '@vnetlab/proto';
import { HypercallClient, KvStore, startService, type HostShared, type Service, type ServiceConfig, type ServiceSpec } from '@vnetlab/runtime';
import { hostSpec, loadTopology, queueSetIrq, queueSetPlan } from '@vnetlab/topology';
import { flowKey } from '@vnetlab/flows';
import { backendDir, frontendDir } from '@vnetlab/xenbus';
import { startGuestInspect } from './guest_inspect.js';
import { connectNetfront, GuestMigration, guestNetfront, subscribeUpcalls } from './guest_migration.js';
import { guestAttacks } from './guest_attacks.js';
import { guestMetrics } from './guest_metrics.js';

export const GUEST_SPEC: ServiceSpec = {
  kind: 'guest',
  description: 'A paravirtualized guest domain: netfront, a network stack, and traffic apps.',
  options: {
    topology: { help: 'topology file of the lab' },
    guest: { help: 'name of this guest in the topology' },
    hypervisor: { help: "address (host:port) of this host's hypervisor gRPC server" },
    'domain-token': { help: "this domain's credential for its hypercall stream, issued by the toolstack" },
    'reserved-pages': { help: 'pages kept for the guest kernel itself (not I/O buffers)', type: 'number', default: 16 },
  },
};

/** Starts the service; `shared` carries what services co-located in one host process share. */
export async function startGuest(cfg: ServiceConfig, shared: HostShared = {}): Promise<Service> {
  const topo = loadTopology(String(cfg.options.topology));
  const host = hostSpec(topo, cfg.host);
  const name = String(cfg.options.guest);
  const spec = host.guests.find((g) => g.name === name);
  if (!spec) throw new Error(`guest "${name}" is not on host ${host.name}`);
  const iface = spec.interfaces[0];
  // pv and multiqueue guests run netfront (behind it dom0 either bridges and copies, or
  // hands the guest's buffers to its own NIC queue set); cdna, passthrough and native
  // guests drive a NIC queue set themselves
  const DIRECT = ['cdna', 'passthrough', 'native'];
  const EMULATED = iface?.arch === 'emulated';
  if (!iface || (iface.arch !== 'pv' && iface.arch !== 'multiqueue' && !EMULATED && !DIRECT.includes(iface.arch))) {
    throw new Error(`guest ${name}: interface arch ${iface?.arch ?? 'none'} is not served by this service`);
  }
  const rxMode = iface.arch === 'pv' ? iface.rx_mode : 'copy';
  const svc = await startService({ config: cfg, domain: name, handleSignals: shared.handleSignals });
  const pcpu = `cpu${spec.vcpus[0] ?? 0}`;

  const bootHv = new HypercallClient(String(cfg.options.hypervisor), 0, pcpu, String(cfg.options['domain-token'] ?? ''));
  await bootHv.waitReady();
  const info = await bootHv.domain(name);
  bootHv.close();
  const hv = new HypercallClient(String(cfg.options.hypervisor), info.domid, pcpu, String(cfg.options['domain-token'] ?? ''));
  svc.onShutdown(() => hv.close());
  const mem = shared.mem ?? new FileMachineMemory(info.memoryPath, info.memoryFrames);
  if (!shared.mem) svc.onShutdown(() => mem.close());
  let gm = new GuestMemory(mem, info.p2m);
  const reserved = Number(cfg.options['reserved-pages']);
  const ledger = new Ledger(new CostTable());
  // The guest kernel's own pages (never I/O buffers) hold its image: a pattern of its own,
  // so that an attack that writes into them shows in their hash.
  for (let gfn = 0; gfn < reserved; gfn++) gm.write(gfn, 0, Buffer.from(createHash('sha256').update(`${name}/${gfn}`).digest('hex').repeat(64).slice(0, 4096)));
  const kernelHash = () => {
    const h = createHash('sha256');
    for (let gfn = 0; gfn < reserved; gfn++) h.update(gm.read(gfn, 0, 4096));
    return h.digest('hex');
  };
  const cpu = new Cpu(pcpu, host.cpus.hz, ledger, shared.core?.(pcpu));
  cpu.setAddressSpace(name, { superpages: spec.superpages });
  // an interface in a VNI gets the underlay MTU less VXLAN's 50 bytes, as an OpenStack tenant
  // network advertises it, so that its full-size frames still fit the underlay once encapsulated
  const mtu = iface.vni !== undefined && host.underlay ? { mtu: host.underlay.mtu - 50 } : {};
  // pv's virtual TSO: the stack builds TCP segments as large as one netif request chain carries
  const offload = iface.arch === 'pv' ? iface.offload : { csum: false, tso: false };
  const tso = offload.tso ? { tsoMaxBytes: GSO_MAX_FRAME - 14 - 20 - 20 } : {};
  const stack = new NetStack({ mac: iface.mac, ip: iface.ip, ...mtu, ...tso, ipForward: spec.ip_forward });
  stack.bindUdp(SINK_PORT);
  stack.listenTcp(SINK_PORT);
  const pages = new PagePool(info.p2m.map((_, gfn) => gfn).slice(reserved));
  let kernel!: GuestKernel; // assigned by the arch branch below (for pv, once its event channel exists)
  const observe = guestMetrics(svc, iface.arch, () => (kernel as GuestKernel | undefined)?.flows.snapshot() ?? []);
  let events: { unsubscribe(): void } | undefined; // the event-channel subscription (subscribeEvents)
  let irqPort: number;
  let ownNic: DirectNic | undefined; // the guest's own NIC driver (cdna, passthrough, native, emulated)
  let pvFront: { netfront: Netfront; port: number } | undefined; // pv and multiqueue

  if (EMULATED) {
    // An unmodified e1000-style driver: its rings and buffers in the guest's memory by
    // guest-physical address, every register access a trap forwarded to the device model
    // in the driver domain as an ioreq.
    const ioreq = (reg: number, value: number, write: boolean, tNs: number) =>
      svc.publish(subjects.ioreq(host.name, info.domid), pcie.IoReq.encode({ domid: info.domid, device: 'nic0', reg, value, write, tNs }).finish());
    /** The driver's probe: rings in two of its pages, their registers written (each a trap). */
    const probe = (pool: PagePool, tNs: number): DirectNic => {
      const [txG, rxG] = [pool.take()!, pool.take()!];
      const queue = ownRings(txG, rxG, (gfn) => gfn * 4096);
      ioreq(E1000.TDBAL, queue.setup.txRingAddr, true, tNs);
      ioreq(E1000.TDLEN, queue.size * 16, true, tNs);
      ioreq(E1000.RDBAL, queue.setup.rxRingAddr, true, tNs);
      ioreq(E1000.RDLEN, queue.size * 16, true, tNs);
      return new DirectNic({
        mode: 'emulated', mem: gm, pages: pool, cpu, domain: name, queue, busAddr: (gfn) => gfn * 4096,
        tailWritePerFrame: true,
        doorbell: (ring, tail, t) => ioreq(ring === 'tx' ? E1000.TDT : E1000.RDT, tail, true, t),
        ack: (t) => ioreq(E1000.ICR, 0, false, t),
      });
    };
    const ev = await hv.evtchnAllocUnbound(0, 0);
    if (ev.status < 0) throw new Error(`evtchn_alloc_unbound failed: ${ev.status}`);
    irqPort = ev.port;
    const store = new KvStore(await svc.kv(XENSTORE_BUCKET));
    const ioemu = frontendDir(host.name, info.domid).replace('.vif.', '.ioemu.');
    // the device model's generation: a driver domain that restarts brings a new one
    const modelKey = `${backendDir(host.name, 0, info.domid)}.device-model`;
    const generation = async () => Number(await store.read(modelKey)) || 0;
    let probedFor = await generation();
    let direct = probe(pages, 0);
    ownNic = direct;
    // the device the kernel drives: held while a new device model comes up
    const nic = new MigratableNic(direct);
    nic.setNotify((tNs) => direct.kick(tNs));
    kernel = new GuestKernel({
      domain: name, mac: iface.mac, netfront: nic, stack, cpu, observe,
      notify: (tNs) => nic.notify(tNs),
      // the tail write traps; so does the interrupt-cause read at every interrupt
      kickCost: { domain: 'xen', charges: [['vm_exit', 1]] },
      upcallCost: { domain: 'xen', charges: [['virq', 1], ['vm_exit', 1]] },
    });
    subscribeEvents();
    await store.write(`${ioemu}.event-channel`, String(ev.port));
    await direct.start(0);
    svc.log.info('emulated NIC driver up', { port: irqPort });
    /**
     * The device model restarted with its driver domain: the device the driver knew is gone
     * (its registers reset), so the driver probes the new one, as after a device reset. I/O
     * is held meanwhile; what the old device completed is taken; what it held on its TX ring
     * is written off (device_reset); the held frames go out on the new rings.
     */
    let reprobing = false;
    const reprobe = async (gen: number): Promise<void> => {
      probedFor = gen;
      nic.suspend();
      await kernel.onEvent(kernel.now);
      for (const f of direct.abandon()) kernel.flows.dropped(flowKey(f), 'device_reset');
      direct = probe(new PagePool(info.p2m.map((_, gfn) => gfn).slice(reserved)), kernel.now);
      ownNic = direct;
      await direct.start(kernel.now);
      const flushed = nic.resume(direct, kernel.now);
      for (const d of flushed.dropped) kernel.flows.dropped(flowKey(d.frame), d.reason);
      if (flushed.notify) nic.notify(flushed.tNs);
      await kernel.advanceTo(flushed.tNs);
      await kernel.sendRaw(stack.announce(kernel.now).frames);
      svc.log.warn('emulated NIC: a new device model, probed again', { generation: gen });
    };
    await store.watch(modelKey, (e) => {
      if ((Number(e.value) || 0) <= probedFor || reprobing) return;
      reprobing = true;
      void (async () => {
        // a device model that restarted again meanwhile is probed in turn
        for (let gen = await generation(); gen > probedFor; gen = await generation()) await reprobe(gen);
      })()
        .catch((err) => svc.log.error('probing the new device model failed', { error: err }))
        .finally(() => {
          reprobing = false;
        });
    });
  } else if (DIRECT.includes(iface.arch)) {
    const q = queueSetPlan(host).find((x) => x.guest === name);
    if (!q) throw new Error(`guest ${name}: no NIC queue set is planned for its ${iface.arch} interface`);
    const doorbell = (ring: 'tx' | 'rx', tail: number, tNs: number) =>
      svc.publish(subjects.nicDoorbell(host.name, q.nic), pcie.Doorbell.encode({ nic: q.nic, queueSet: q.qs, ring: ring === 'tx' ? pcie.Ring.RING_TX : pcie.Ring.RING_RX, tail, tNs }).finish());
    let direct: DirectNic;
    if (iface.arch === 'cdna') {
      // rings and their configuration are the hypervisor's; every buffer goes through it
      const id = queueSetIrq(q.nicIndex, q.qs);
      direct = new DirectNic({
        mode: 'cdna', mem: gm, pages, cpu, domain: name, doorbell,
        cdna: { enqueue: (rx, bufs, t) => hv.cdnaEnqueue(id, rx, bufs, t), complete: (rx, t) => hv.cdnaComplete(id, rx, t) },
        onDrop: (flow, reason) => kernel.flows.dropped(flow, reason),
      });
    } else {
      // the guest's own rings; behind an IOMMU (passthrough) the device takes guest-physical
      // addresses, on a native host machine addresses
      const [txG, rxG] = [pages.take()!, pages.take()!];
      const busAddr = iface.arch === 'passthrough' ? (gfn: number) => gfn * 4096 : (gfn: number) => gm.mfnOf(gfn) * 4096;
      const queue = ownRings(txG, rxG, busAddr);
      const cfgMsg = pcie.QueueSetConfig.encode({ nic: q.nic, queueSet: q.qs, ...queue.setup, macs: q.macs, promiscuous: false, ownerDomid: info.domid }).finish();
      await configureNic(subjects.nicConfig(host.name, q.nic), cfgMsg);
      direct = new DirectNic({ mode: iface.arch as 'native' | 'passthrough', mem: gm, pages, cpu, domain: name, doorbell, queue, busAddr });
    }
    const irq = await hv.bindPirq(queueSetIrq(q.nicIndex, q.qs), 0);
    if (irq.status < 0) throw new Error(`bind_pirq for ${q.nic} queue set ${q.qs} failed: ${irq.status}`);
    irqPort = irq.port;
    ownNic = direct;
    const native = iface.arch === 'native';
    kernel = new GuestKernel({
      domain: name, mac: iface.mac, netfront: direct, stack, cpu, observe,
      notify: (tNs) => direct.kick(tNs),
      kickCost: { domain: 'self', charges: [['mmio_write', 1]] },
      // no hypervisor on a native host: the kernel takes its interrupt itself
      upcallCost: native ? { domain: 'self', charges: [['pirq', 1]] } : { domain: 'xen', charges: [['pirq', 1], ['virq', 1]] },
    });
    subscribeEvents();
    await direct.start(0);
    svc.log.info('NIC queue set driven directly', { arch: iface.arch, nic: q.nic, qs: q.qs, port: irqPort });
  } else {
    const grants = new GrantTableWriter(mem, info.grantFrames);
    const netfront = guestNetfront({ gm, grants, rxMode, pages, cpu, domain: name, hv });
    // the device the kernel drives: this netfront, and after a migration the next host's
    const nic = new MigratableNic(netfront);
    const store = new KvStore(await svc.kv(XENSTORE_BUCKET));
    const { port } = await connectNetfront({
      store, host: host.name, domid: info.domid, netfront, hv, mac: iface.mac, offload,
      endStaleGrants: () => grants.endAll(),
      beforeConnect: (p) => {
        irqPort = p;
        pvFront = { netfront, port: p };
        nic.setNotify((tNs) => void hv.evtchnSend(p, tNs).catch((e) => svc.log.warn('evtchn send failed', { error: e })));
        kernel = new GuestKernel({ domain: name, mac: iface.mac, netfront: nic, stack, cpu, notify: (tNs) => nic.notify(tNs), offload, observe });
        subscribeEvents();
      },
    });
    const mig = new GuestMigration({
      svc, name, mac: iface.mac, rxMode, offload, kernel: kernel!, stack, nic, cpu, pcpu, reserved, store,
      placement: { host: host.name, domid: info.domid, hv, mem, gm, grantFrames: info.grantFrames },
      events: () => events,
      onPlaced: (p) => {
        gm = p.gm;
        svc.onShutdown(() => { p.hv.close(); p.mem.close(); });
      },
      answeredBeforeSent: iface.arch === 'pv' && (iface.tx_mode ?? 'copy') === 'copy',
      onNetfront: (nf, p) => {
        pvFront = { netfront: nf, port: p };
        irqPort = p;
      },
    });
    // a backend that closes under the connected frontend (its driver domain restarted): meet the new one
    await mig.watchBackend();
    // live migration: suspend on the toolstack's word, resume where it says (pv)
    if (iface.arch === 'pv') {
      await mig.watchSuspend();
      svc.addGrpc(migration.GuestMigrationService, mig.impl());
    }
    svc.log.info('netfront connected', { domid: info.domid, port, rxMode, arch: iface.arch, offload });
  }

  /** A queue set's two rings in pages of the guest's own, as the device addresses them. */
  function ownRings(txG: number, rxG: number, busAddr: (gfn: number) => number): QueueSetDriver<number> {
    return new QueueSetDriver<number>({
      read: (r, off, len) => gm.read(r === 'tx' ? txG : rxG, off, len),
      write: (r, off, data) => gm.write(r === 'tx' ? txG : rxG, off, data),
      busAddr: { tx: busAddr(txG), rx: busAddr(rxG) },
    });
  }

  function subscribeEvents(): void {
    // the bus restarted: an upcall sent meanwhile is gone, so the device's rings are looked at again
    svc.onReconnect(() => kernel.onEvent(kernel.now));
    events = subscribeUpcalls(svc, host.name, info.domid, kernel, () => irqPort);
  }

  /** The driver programs its queue set; a passed-through one waits for its IOMMU context. */
  async function configureNic(subject: string, msg: Uint8Array): Promise<void> {
    for (let i = 0; ; i++) {
      const r = await svc.nc.request(subject, msg, { timeout: 5000 });
      if (r.data.length === 0) return;
      const why = new TextDecoder().decode(r.data);
      if (i >= 40) throw new Error(`NIC refused the queue-set configuration: ${why}`);
      await new Promise((res) => setTimeout(res, 250));
    }
  }

  const ipOf = (dst: string) => {
    for (const h of topo.hosts) for (const g of h.guests) if (g.name === dst) return g.interfaces[0]?.ip ?? dst;
    return dst;
  };
  const fail = (cb: (e: grpc.ServiceError) => void, e: unknown) => cb({ code: 13, details: (e as Error).message } as grpc.ServiceError);

  const impl: control.GuestServer = {
    ping(call, cb) {
      const r = call.request;
      kernel.advanceTo(r.atNs).then(() => kernel.route(ipOf(r.dst), r.via ? ipOf(r.via) : undefined)).then(() => kernel.ping(ipOf(r.dst), Math.max(1, r.count || 1), r.size || 56)).then(
        (res) => cb(null, { replies: res.replies, sent: res.sent, received: res.received }),
        (e) => fail(cb, e),
      );
    },
    bulkSend(call, cb) {
      const r = call.request;
      const dst = ipOf(r.dst);
      const port = r.port || SINK_PORT;
      // a gateway asked for is a host route from now on (and none asked for: straight to dst)
      const run = kernel.advanceTo(r.atNs).then(() => kernel.route(dst, r.via ? ipOf(r.via) : undefined)).then(() => (r.proto === 'tcp' ? kernel.tcpBulk(dst, port, r.bytes) : kernel.udpBulk(dst, port, r.bytes, r.msgSize || 1472)));
      run.then(
        (res) => cb(null, { flow: res.flow, bytesSent: res.bytesSent, bytesAcked: r.proto === 'tcp' ? res.bytesSent : 0, startNs: res.startNs, endNs: res.endNs }),
        (e) => fail(cb, e),
      );
    },
    flowStats(_call, cb) {
      cb(null, { flows: kernel.flows.snapshot().map((f) => ({ ...f, inFlight: 0, firstSentNs: f.firstSentNs ?? 0, lastSentNs: f.lastSentNs ?? 0, firstDeliveredNs: f.firstDeliveredNs ?? 0, lastDeliveredNs: f.lastDeliveredNs ?? 0, lostWith: [] })) });
    },
  };
  svc.addGrpc(control.GuestService, impl);

  // A hostile guest on demand: attacks through the guest's real interfaces (guest_attacks.ts).
  const runAttack = guestAttacks({
    name, arch: iface.arch, rxMode, cpu, hv, pages, p2m: info.p2m, log: svc.log,
    // read at attack time: a migration may replace them
    get kernel() { return kernel; }, get ownNic() { return ownNic; }, get pvFront() { return pvFront; },
  });
  const attacks: protection.GuestAttackServer = {
    attack(call, cb) {
      runAttack(call.request).then((r) => cb(null, r), (e) => fail(cb, e));
    },
    memoryHash(_call, cb) {
      // its memory: the kernel's pages and any frame the hypervisor has it own beyond its p2m
      // (handed to it, as a page given away by another domain is)
      hv.domain(name).then((d) => {
        const h = createHash('sha256').update(kernelHash());
        for (const mfn of d.unmappedFrames) h.update(mem.read(mfn, 0, 4096));
        cb(null, { sha256: h.digest('hex'), pages: reserved + d.unmappedFrames.length });
      }, (e) => fail(cb, e));
    },
  };
  svc.addGrpc(protection.GuestAttackService, attacks);

  // captures of this guest's interface, traces, and the Probe API that sends a trace's frame
  await startGuestInspect(svc, { name, mac: iface.mac, ip: iface.ip, kernel, stack, ledger, cpu });
  svc.setLedgerSource(() => ledger.snapshot());
  svc.setFlowSource(() => kernel.flows.snapshot());
  // the modelled-time gauge also moves with work that no event started (API calls, timers)
  setInterval(() => svc.metrics.setModelledTime(kernel.now), 100).unref();
  await svc.listen();
  svc.ready();
  return svc;
}
