// The driver domain (dom0) of one host: netback for every guest interface, the Ethernet
// bridge, and the driver of the host's NIC. Event-channel upcalls arrive on NATS, hypercalls
// go to the hypervisor over gRPC, doorbells go to the NIC on NATS.
import { CostTable, Cpu, Ledger } from '@vnetlab/cost';
import { DriverDomain, EmulatedNicError, EmulatedNicModel, nicUplink, type UplinkPort } from '@vnetlab/driver-domain';
import { FileMachineMemory, GuestMemory, PagePool } from '@vnetlab/memory';
import { FlowJournal, mergeFlowCounts } from '@vnetlab/flows';
import { basename, dirname, join } from 'node:path';
import { NicDriver, QueueSetDriver } from '@vnetlab/nic';
import { MultiqueueBackend, type MqCookie } from '@vnetlab/netback';
import { SINK_PORT } from '@vnetlab/netstack';
import { netif, pcie, protection, subjects, XENSTORE_BUCKET } from '@vnetlab/proto';
import { BadMessageError, checkModelledTime, HypercallClient, KvStore, startService, type HostShared, type Service, type ServiceConfig, type ServiceSpec } from '@vnetlab/runtime';
import { hostSpec, loadTopology, queueSetIrq, queueSetPlan, type QueueSetAssignment } from '@vnetlab/topology';
import { XenbusState, backendDir, frontendDir, readKeys, setState, waitForState } from '@vnetlab/xenbus';
import { startDom0Inspect } from './dom0_inspect.js';
import { startFaultAgent } from './fault_service.js';

export const DRIVER_DOMAIN_SPEC: ServiceSpec = {
  kind: 'driver-domain',
  description: 'The driver domain (dom0) of one host: netback per guest interface, the bridge, the NIC driver.',
  options: {
    topology: { help: 'topology file of the lab' },
    hypervisor: { help: "address (host:port) of this host's hypervisor gRPC server" },
    'domain-token': { help: "this domain's credential for its hypercall stream, issued by the toolstack" },
    'reserved-pages': { help: 'pages of dom0 kept for its kernel (not I/O buffers)', type: 'number', default: 16 },
  },
};

/** Starts the service; `shared` carries what services co-located in one host process share. */
export async function startDriverDomain(cfg: ServiceConfig, shared: HostShared = {}): Promise<Service> {
  const topo = loadTopology(String(cfg.options.topology));
  const host = hostSpec(topo, cfg.host);
  const svc = await startService({ config: cfg, domain: 'dom0', handleSignals: shared.handleSignals });
  const m = svc.metrics;
  const pcpu = `cpu${host.driver_domain.cpus[0] ?? 0}`;

  const hv = new HypercallClient(String(cfg.options.hypervisor), 0, pcpu, String(cfg.options['domain-token'] ?? ''));
  svc.onShutdown(() => hv.close());
  await hv.waitReady();
  // A driver domain killed and started again boots in the same domain (a crashed driver
  // domain rebooting): the hypervisor first releases what the dead kernel held — its event
  // channels (the guests' ends go back to unbound), its physical IRQs, its grant mappings —
  // and each frontend it served is told its backend closed, so that it meets this one afresh.
  const reset = await hv.softReset(0);
  if (reset.status < 0) throw new Error(`soft reset failed: ${reset.status}`);
  // (by the hypervisor's count of boots: a run killed before it bound anything left no port behind)
  const restarted = reset.boots > 1;
  if (restarted) {
    svc.log.warn('driver domain restarted: the previous run\'s event channels, IRQs and grant mappings released', { ports: reset.ports });
    svc.event('driver-domain-restarted', `${host.name}/dom0 started again: ${reset.ports} event channels of its previous run closed; its guests reconnect`, { host: host.name });
  }
  const info = await hv.domain('dom0');
  // the lab's flow counts of this domain live beside its memory, past a kill of this process
  const journal = openJournal(join(dirname(info.memoryPath), `${basename(info.memoryPath)}.dom0.flows`));
  function openJournal(path: string): Pick<FlowJournal, 'previous' | 'record'> {
    try {
      const j = new FlowJournal(path, { resume: restarted });
      svc.onShutdown(() => j.close());
      if (j.unreadable > 0) svc.log.warn('flow journal: lines of the previous run not read back', { lines: j.unreadable });
      return j;
    } catch (e) {
      // counted in this process only: a kill then loses its counts (reported in flight)
      svc.log.warn('flow journal unavailable: flow counts die with this process', { path, error: e });
      return { previous: [], record: () => undefined };
    }
  }
  const mem = shared.mem ?? new FileMachineMemory(info.memoryPath, info.memoryFrames);
  if (!shared.mem) svc.onShutdown(() => mem.close());
  const dom0 = new GuestMemory(mem, info.p2m);
  const reserved = Number(cfg.options['reserved-pages']);
  const pages = new PagePool(info.p2m.map((_, gfn) => gfn).slice(reserved));
  const ledger = new Ledger(new CostTable());
  const cpu = new Cpu(pcpu, host.cpus.hz, ledger, shared.core?.(pcpu));
  cpu.setAddressSpace('dom0', { superpages: host.driver_domain.superpages });
  // the bridge or the vswitch (driver_domain.switch), its metrics, flow API and trace reports
  const look = await startDom0Inspect(svc, topo, host, cpu, hv);

  const notify = (port: number, tNs: number) => {
    cpu.run(tNs, 'xen', [['hypercall', 1], ['evtchn_send', 1]]);
    hv.evtchnSend(port, tNs).catch((e) => svc.log.warn('evtchn send failed', { port, error: e }));
  };

  // One bridge per NIC whose queue set 0 is dom0's (xenbr0, xenbr1, ... as Linux sets them
  // up), each with that NIC's driver as its uplink; NICs naming the same bridge in the
  // topology share one (dom0 forwards between them). The NIC driver's rings live in dom0's
  // memory; the NIC learns them by configuration.
  const bridges = new Map<string, DriverDomain>();
  const groups = new Map<string, UplinkPort[]>();
  /** How dom0 tells each NIC where its rings are (again, for a NIC that came back). */
  const reconfigure = new Map<string, (rings: { txRingAddr: number; rxRingAddr: number; size: number }) => Promise<void>>();
  for (const q of queueSetPlan(host).filter((x) => x.qs === 0 && x.owner === 'dom0')) {
    const nic = host.nics[q.nicIndex]!;
    // the driver sets the NIC's features: what the NIC lacks, dom0 does in software
    const driver = new NicDriver({ mem: dom0, pool: pages, offload: nic.offload });
    const rings = driver.setup();
    // The bridge's uplink takes every frame (promiscuous); the bridged guests' MACs are also
    // registered, so that a NIC switching between its queue sets (multiqueue) finds them here.
    // (not those in a VNI: their frames cross the wire inside VXLAN, and their MACs may repeat across VNIs)
    // (a routing dom0 receives on its NIC's own MAC: the guests behind it are reached by route)
    // (dom0's own address, when it has one, is on its first NIC's bridge with that NIC's MAC)
    const bridged = host.driver_domain.switch === 'router' ? [nic.mac] : host.guests.flatMap((g) => g.interfaces.filter((i) => (i.arch === 'pv' || i.arch === 'emulated') && i.nic === nic.name && i.vni === undefined).map((i) => i.mac));
    if (host.driver_domain.ip !== undefined && q.nicIndex === 0) bridged.push(nic.mac);
    const configure = async (r: typeof rings) => {
      const cfgMsg: pcie.QueueSetConfig = { nic: nic.name, queueSet: 0, txRingAddr: r.txRingAddr, rxRingAddr: r.rxRingAddr, size: r.size, macs: bridged, promiscuous: true, ownerDomid: 0 };
      await svc.nc.request(subjects.nicConfig(host.name, nic.name), pcie.QueueSetConfig.encode(cfgMsg).finish(), { timeout: 10_000 });
    };
    reconfigure.set(nic.name, configure);
    await configure(rings);
    const doorbell = (ring: 'tx' | 'rx', tail: number, tNs: number) =>
      svc.publish(subjects.nicDoorbell(host.name, nic.name), pcie.Doorbell.encode({ nic: nic.name, queueSet: 0, ring: ring === 'tx' ? pcie.Ring.RING_TX : pcie.Ring.RING_RX, tail, tNs }).finish());
    const irq = await hv.bindPirq(queueSetIrq(q.nicIndex, 0), 0);
    if (irq.status < 0) throw new Error(`bind_pirq for ${nic.name} failed: ${irq.status}`);
    const uplink = { name: nic.name, driver: nicUplink(driver, doorbell, cpu), port: irq.port };
    // a routing dom0 is one router between all its NICs (each a link of its own)
    const group = host.driver_domain.switch === 'router' ? 'router' : nic.bridge;
    groups.set(group, [...(groups.get(group) ?? []), uplink]);
    doorbell('rx', driver.postRxBuffers(), 0);
  }
  const first = host.nics[0];
  const endpoint = (uplinks: UplinkPort[]) =>
    host.driver_domain.ip !== undefined && first && uplinks.some((u) => u.name === first.name) ? { endpoint: { mac: first.mac, ip: host.driver_domain.ip, sinkPort: SINK_PORT } } : {};
  for (const uplinks of groups.values()) {
    const dd = new DriverDomain({ mem, dom0, pages, cpu, switch: look.switchFor(uplinks.map((u) => u.name)), uplinks, ports: { hv, notify }, observer: look.observer, portTap: look.portTap, flowSink: journal.record, ...endpoint(uplinks) });
    for (const u of uplinks) bridges.set(u.name, dd);
  }
  // guests on no NIC of dom0's still meet on a bridge without an uplink
  const local = new DriverDomain({ mem, dom0, pages, cpu, switch: look.switchFor([]), ports: { hv, notify }, observer: look.observer, portTap: look.portTap, flowSink: journal.record });
  const ddFor = (nic: string | undefined) => (nic && bridges.get(nic)) || bridges.values().next().value || local;
  const all = () => [...new Set(bridges.values()), local];
  look.servePorts(all);
  svc.onShutdown(() => all().forEach((d) => d.close()));
  // the fault agent (seed 004): notices a failed NIC, holds and redirects its traffic
  startFaultAgent(svc, topo, host, (nic) => bridges.get(nic), (nic) => bridges.get(nic)!.resetUplink(nic, 'nic_dead', reconfigure.get(nic)!));
  const dd = {
    get now() {
      return Math.max(...all().map((d) => d.now));
    },
    async onEvent(port: number, tNs: number) {
      for (const d of all()) if (await d.onEvent(port, tNs)) return true;
      return false;
    },
    flows: () => mergeFlowCounts([journal.previous, ...all().map((d) => d.flows.snapshot())]),
  };

  // the bus restarted: events sent meanwhile are gone, so every ring is looked at again
  svc.onReconnect(async () => {
    for (const d of all()) await d.rescan(d.now);
  });

  svc.subscribe(subjects.evtchn(host.name, 0), netif.EventBatch.decode, async (batch) => {
    for (const e of batch.events) {
      checkModelledTime(e.tNs, 'event');
      if (!(await dd.onEvent(e.port, e.tNs))) svc.metrics.badMessage('unknown_port', { port: e.port });
    }
    svc.metrics.setModelledTime(dd.now);
  });

  // xenbus, backend side: announce a vif backend per guest interface, connect when the
  // frontend says it is ready.
  const store = new KvStore(await svc.kv(XENSTORE_BUCKET));
  const domains = (await hv.listDomains()).domains;
  for (const g of host.guests) {
    const d = domains.find((x) => x.name === g.name);
    const iface = g.interfaces[0];
    if (d && iface?.arch === 'emulated') {
      attachEmulated(d, iface.nic, iface.mac, iface.ip);
      continue;
    }
    if (!d || !iface || (iface.arch !== 'pv' && iface.arch !== 'multiqueue')) continue;
    const q = queueSetPlan(host).find((x) => x.guest === g.name && x.arch === 'multiqueue');
    const run = q ? connectMultiqueue(d.domid, g.name, iface.mac, q) : connectBackend(d.domid, g.name, iface.mac, iface.rx_mode, iface.nic);
    void run.catch((e) => svc.log.error('vif backend failed', { guest: g.name, error: e }));
  }

  /**
   * An emulated NIC: its device model here (qemu), reading and writing the guest's memory
   * through a mapping of it; the guest's register accesses arrive as ioreqs.
   */
  function attachEmulated(d: { domid: number; name: string; p2m: number[] }, nic: string | undefined, mac: string, ip: string): void {
    const name = `tap${d.domid}`;
    const sw = ddFor(nic);
    const model = new EmulatedNicModel({ guest: new GuestMemory(mem, d.p2m), dom0, pages, cpu });
    sw.addEmulatedPort(name, model, undefined, mac, ip);
    svc.subscribe(subjects.ioreq(host.name, d.domid), pcie.IoReq.decode, async (r) => {
      checkModelledTime(r.tNs, 'ioreq');
      await sw.onIoreq(name, r.reg, r.value, r.write, r.tNs).catch((e: unknown) => {
        throw e instanceof EmulatedNicError ? new BadMessageError(e.reason, e.message) : e;
      });
    });
    void (async () => {
      const key = `${frontendDir(host.name, d.domid).replace('.vif.', '.ioemu.')}.event-channel`;
      let port: string | undefined;
      for (let i = 0; i < 600 && (port = await store.read(key)) === undefined; i++) await new Promise((res) => setTimeout(res, 50));
      if (port === undefined) throw new Error(`${d.name} never published its emulated NIC's event channel`);
      const bound = await hv.evtchnBindInterdomain(d.domid, Number(port), dd.now);
      if (bound.status < 0) throw new Error(`bind_interdomain to ${d.name} port ${port}: ${bound.status}`);
      sw.bindEmulatedPort(name, bound.port);
      if (restarted) {
        // a new device model knows none of the registers the guest's driver wrote: it probes again
        // (in the backend directory of the guest's interface: dom0 writes there, the guest reads it)
        const gen = `${backendDir(host.name, 0, d.domid)}.device-model`;
        await store.write(gen, String((Number(await store.read(gen)) || 0) + 1));
      }
      svc.log.info('emulated NIC attached', { guest: d.name, domid: d.domid, port: bound.port, restarted });
    })().catch((e) => svc.log.error('emulated NIC failed', { guest: d.name, error: e }));
  }

  /** xenbus, backend side, up to the frontend's Connected; returns what it published. */
  async function handshake(domid: number, mac: string, rxFlip: boolean, txOffloads = false) {
    const be = backendDir(host.name, 0, domid);
    const fe = frontendDir(host.name, domid);
    const was = restarted ? Number(await store.read(`${fe}.state`)) : XenbusState.Unknown;
    if (was >= XenbusState.Initialised && was <= XenbusState.Closing) {
      // the frontend is still connected to the backend that died with the previous run (or
      // was closing to suspend, and waits for that backend's Closed)
      await setState(store, be, XenbusState.Closed);
      await waitForState(store, fe, [XenbusState.Closed, XenbusState.Initialising], 24 * 3600_000);
      svc.log.info('frontend of the previous run let go', { domid });
    }
    await store.write(`${be}.frontend-id`, String(domid));
    await store.write(`${be}.mac`, mac);
    await store.write(`${be}.feature-rx-copy`, '1');
    await store.write(`${be}.feature-rx-flip`, rxFlip ? '1' : '0');
    if (txOffloads) {
      // netback takes multi-slot packets and the GSO extra (Menon et al.'s virtual offloads)
      await store.write(`${be}.feature-sg`, '1');
      await store.write(`${be}.feature-gso-tcpv4`, '1');
    }
    await setState(store, be, XenbusState.InitWait);
    await waitForState(store, fe, [XenbusState.Connected], 24 * 3600_000);
    const k = await readKeys(store, fe, ['tx-ring-ref', 'rx-ring-ref', 'event-channel', 'request-rx-copy'] as const);
    const bound = await hv.evtchnBindInterdomain(domid, Number(k['event-channel']), dd.now);
    if (bound.status < 0) throw new Error(`bind_interdomain to domain ${domid} port ${k['event-channel']}: ${bound.status}`);
    return { be, k, port: bound.port };
  }

  /** A multiqueue vif: the guest's own queue set, its rings in dom0's memory, no bridge. */
  async function connectMultiqueue(domid: number, guest: string, mac: string, q: QueueSetAssignment): Promise<void> {
    const ringGfns = [pages.take(), pages.take()];
    if (ringGfns.some((g) => g === undefined)) throw new Error(`no dom0 pages left for ${guest}'s queue-set rings`);
    const [txG, rxG] = ringGfns as number[];
    const queue = new QueueSetDriver<MqCookie>({
      read: (r, off, len) => dom0.read(r === 'tx' ? txG : rxG, off, len),
      write: (r, off, data) => dom0.write(r === 'tx' ? txG : rxG, off, data),
      busAddr: { tx: dom0.mfnOf(txG) * 4096, rx: dom0.mfnOf(rxG) * 4096 },
    });
    const cfgMsg: pcie.QueueSetConfig = { nic: q.nic, queueSet: q.qs, ...queue.setup, macs: q.macs, promiscuous: false, ownerDomid: 0 };
    await svc.nc.request(subjects.nicConfig(host.name, q.nic), pcie.QueueSetConfig.encode(cfgMsg).finish(), { timeout: 10_000 });
    const irq = await hv.bindPirq(queueSetIrq(q.nicIndex, q.qs), dd.now);
    if (irq.status < 0) throw new Error(`bind_pirq for ${q.nic} queue set ${q.qs} failed: ${irq.status}`);
    const doorbell = (ring: 'tx' | 'rx', tail: number, tNs: number) =>
      svc.publish(subjects.nicDoorbell(host.name, q.nic), pcie.Doorbell.encode({ nic: q.nic, queueSet: q.qs, ring: ring === 'tx' ? pcie.Ring.RING_TX : pcie.Ring.RING_RX, tail, tNs }).finish());
    const { be, k, port } = await handshake(domid, mac, false);
    if (k['request-rx-copy'] !== '1') throw new Error(`${guest}: a multiqueue vif needs the frontend to grant its receive buffers (request-rx-copy)`);
    const backend = new MultiqueueBackend({ frontDomid: domid, mem, hv, cpu, queue, doorbell });
    await backend.connect(Number(k['tx-ring-ref']), Number(k['rx-ring-ref']), dd.now);
    ddFor(q.nic).addMultiqueueVif({ name: `vif${domid}.0`, port, irqPort: irq.port }, backend);
    await setState(store, be, XenbusState.Connected);
    // the frontend posted its receive buffers before it said Connected: take them now
    await dd.onEvent(port, dd.now);
    svc.log.info('multiqueue vif connected', { guest, domid, nic: q.nic, qs: q.qs });
  }

  async function connectBackend(domid: number, guest: string, mac: string, rxMode: 'copy' | 'flip', nic?: string): Promise<void> {
    const { be, k, port } = await handshake(domid, mac, true, true);
    const mode = k['request-rx-copy'] === '1' ? 'copy' : 'flip';
    if (mode !== rxMode) svc.log.info('frontend chose its receive mode', { guest, mode });
    // (a guest that migrated here is in the topology under the host it started on)
    const iface = topo.hosts.flatMap((x) => x.guests).find((g) => g.name === guest)?.interfaces[0];
    const vni = iface?.vni;
    const txMode = iface?.tx_mode ?? 'copy';
    await ddFor(nic).addVif({ name: `vif${domid}.0`, frontDomid: domid, port, rxMode: mode, txMode, mac, ...(iface?.ip ? { ip: iface.ip } : {}), features: { sg: true, gsoTcpv4: true }, ...(vni !== undefined ? { vni } : {}) }, Number(k['tx-ring-ref']), Number(k['rx-ring-ref']), dd.now);
    await setState(store, be, XenbusState.Connected);
    svc.log.info('vif connected', { guest, domid, mode, txMode });
    served.add(domid);
    await watchFrontendClose(domid, guest, `vif${domid}.0`, nic);
  }

  // Guests that arrive by live migration: the toolstack writes the vif's backend directory
  // (domain, mac, rx-mode, then online = 1), as libxl does on the target, and netback attaches.
  const served = new Set<number>();
  const toolstackDir = `${host.name}.local.domain.0.backend.vif`;
  await store.watch(toolstackDir, (e) => {
    const m = new RegExp(`^${toolstackDir.replace(/\./g, '\\.')}\\.(\\d+)\\.0\\.online$`).exec(e.path);
    if (!m || e.value !== '1') return;
    const domid = Number(m[1]);
    if (served.has(domid)) return;
    served.add(domid);
    void (async () => {
      const be = backendDir(host.name, 0, domid);
      const k = await readKeys(store, be, ['domain', 'mac', 'rx-mode'] as const);
      svc.log.info('toolstack asks for a vif', { guest: k.domain, domid });
      await connectBackend(domid, k.domain, k.mac, k['rx-mode'] === 'flip' ? 'flip' : 'copy');
    })().catch((e) => {
      served.delete(domid);
      svc.log.error('vif backend failed', { domid, error: e });
    });
  });

  /**
   * The frontend closes (its guest suspends to migrate, or shuts down): the vif goes, after
   * the requests on its TX ring; frames waiting for its RX buffers are dropped and counted.
   * Then the backend says Closed, which the frontend waits for.
   */
  async function watchFrontendClose(domid: number, guest: string, vif: string, nic?: string): Promise<void> {
    const fe = frontendDir(host.name, domid);
    let closing = false;
    const stop = await store.watch(`${fe}.state`, (e) => {
      const st = Number(e.value);
      if (closing || (st !== XenbusState.Closing && st !== XenbusState.Closed)) return;
      closing = true;
      void (async () => {
        await ddFor(nic).removeVif(vif, dd.now, 'vif_disconnected');
        await setState(store, backendDir(host.name, 0, domid), XenbusState.Closed);
        served.delete(domid);
        stop();
        svc.log.info('vif disconnected', { guest, domid });
        awaitFrontendAgain(domid, guest, nic);
      })().catch((err) => svc.log.error('vif disconnect failed', { guest, domid, error: err }));
    });
  }

  /**
   * A frontend that closed may come back on this host (its guest's process restarted and
   * reloads netfront): when it says Initialising again, netback meets it afresh. A guest that
   * migrated away never does here.
   */
  function awaitFrontendAgain(domid: number, guest: string, nic?: string): void {
    const fe = frontendDir(host.name, domid);
    let stop: (() => void) | undefined;
    let fired = false;
    void store
      .watch(`${fe}.state`, (e) => {
        if (fired || Number(e.value) !== XenbusState.Initialising || served.has(domid)) return;
        fired = true;
        stop?.();
        const spec = topo.hosts.flatMap((x) => x.guests).find((g) => g.name === guest)?.interfaces[0];
        if (!spec || spec.arch !== 'pv') return;
        svc.log.info('frontend back: netback meets it again', { guest, domid });
        served.add(domid);
        void connectBackend(domid, guest, spec.mac, spec.rx_mode, nic).catch((err: unknown) => {
          served.delete(domid);
          svc.log.error('vif backend failed', { guest, domid, error: err });
        });
      })
      .then((st) => {
        stop = st;
        if (fired) st();
      })
      .catch((err: unknown) => svc.log.error('frontend watch failed', { guest, domid, error: err }));
  }

  // Protection: the operator may switch the driver domain's checks off to show why they exist.
  svc.subscribe(subjects.protection(host.name), protection.ProtectionSetting.decode, (p) => {
    for (const d of all()) d.protection = p.on;
    svc.log.warn('protection switched', { on: p.on });
  });
  const violations = svc.metrics.counter('vnetlab_protection_violations_total', 'Operations the driver domain refused, by kind and domain', ['kind', 'domain']);
  const counted = new Map<number, number>();
  const overflowCounted = new Set<number>();
  setInterval(() => {
    // a vif netback shut down for a hostile ring index is a refusal too
    for (const d of all())
      for (const v of d.vifStats()) {
        if (!v.errors || overflowCounted.has(v.domid)) continue;
        const n = (v.errors['tx_ring_overflow'] ?? 0) + (v.errors['rx_ring_overflow'] ?? 0);
        if (n > 0) {
          const name = domains.find((x) => x.domid === v.domid)?.name ?? String(v.domid);
          violations.inc({ kind: 'ring_overflow', domain: name }, n);
          overflowCounted.add(v.domid);
          // once per vif: netback has shut it down
          svc.log.warn('vif shut down: a ring producer index claims more requests than the ring holds', { kind: 'ring_overflow', domain: name, domid: v.domid, errors: v.errors });
        }
      }
    for (const d of all())
      for (const [domid, n] of d.spoofed) {
        const name = domains.find((x) => x.domid === domid)?.name ?? String(domid);
        const delta = n - (counted.get(domid) ?? 0);
        if (delta > 0) {
          violations.inc({ kind: 'spoofed_source_mac', domain: name }, delta);
          // one line per guest and tick (10 a second at most), however many frames it spoofed
          svc.log.warn('frames refused by the anti-spoofing filter: source MAC not the vif\'s own', { kind: 'spoofed_source_mac', domain: name, domid, refused: delta, total: n });
        }
        counted.set(domid, n);
      }
  }, 100).unref();

  svc.setLedgerSource(() => ledger.snapshot());
  svc.setFlowSource(() => dd.flows());
  // the modelled-time gauge also moves with work that no event started (API calls, timers)
  setInterval(() => svc.metrics.setModelledTime(dd.now), 100).unref();
  await svc.listen();
  svc.ready();
  return svc;
}
