// The driver domain (dom0) of one host: netback for every guest interface, the Ethernet
// bridge, and the driver of the host's NIC. Event-channel upcalls arrive on NATS, hypercalls
// go to the hypervisor over gRPC, doorbells go to the NIC on NATS.
import { Bridge } from '@vnetlab/bridge';
import { CostTable, Cpu, Ledger } from '@vnetlab/cost';
import { DriverDomain, nicUplink } from '@vnetlab/driver-domain';
import { FileMachineMemory, GuestMemory, PagePool } from '@vnetlab/memory';
import { NicDriver } from '@vnetlab/nic';
import { netif, pcie, subjects, XENSTORE_BUCKET } from '@vnetlab/proto';
import { BadMessageError, HypercallClient, KvStore, startService, type HostShared, type Service, type ServiceConfig, type ServiceSpec } from '@vnetlab/runtime';
import { hostSpec, loadTopology } from '@vnetlab/topology';
import { XenbusState, backendDir, frontendDir, readKeys, setState, waitForState } from '@vnetlab/xenbus';

export const DRIVER_DOMAIN_SPEC: ServiceSpec = {
  kind: 'driver-domain',
  description: 'The driver domain (dom0) of one host: netback per guest interface, the bridge, the NIC driver.',
  options: {
    topology: { help: 'topology file of the lab' },
    hypervisor: { help: "address (host:port) of this host's hypervisor gRPC server" },
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

  const hv = new HypercallClient(String(cfg.options.hypervisor), 0, pcpu);
  svc.onShutdown(() => hv.close());
  await hv.waitReady();
  const info = await hv.domain('dom0');
  const mem = shared.mem ?? new FileMachineMemory(info.memoryPath, info.memoryFrames);
  if (!shared.mem) svc.onShutdown(() => mem.close());
  const dom0 = new GuestMemory(mem, info.p2m);
  const reserved = Number(cfg.options['reserved-pages']);
  const pages = new PagePool(info.p2m.map((_, gfn) => gfn).slice(reserved));
  const ledger = new Ledger(new CostTable());
  const cpu = new Cpu(pcpu, host.cpus.hz, ledger, shared.core?.(pcpu));

  const notify = (port: number, tNs: number) => {
    cpu.run(tNs, 'xen', [['hypercall', 1], ['evtchn_send', 1]]);
    hv.evtchnSend(port, tNs).catch((e) => svc.log.warn('evtchn send failed', { port, error: e }));
  };

  // The NIC: its driver's rings live in dom0's memory; the NIC learns them by configuration.
  const nic = host.nics[0];
  let uplink: { name: string; driver: ReturnType<typeof nicUplink>; port: number } | undefined;
  if (nic) {
    const driver = new NicDriver({ mem: dom0, pool: pages });
    const rings = driver.setup();
    const cfgMsg: pcie.QueueSetConfig = { nic: nic.name, queueSet: 0, txRingAddr: rings.txRingAddr, rxRingAddr: rings.rxRingAddr, size: rings.size, macs: [], promiscuous: true, ownerDomid: 0 };
    await svc.nc.request(subjects.nicConfig(host.name, nic.name), pcie.QueueSetConfig.encode(cfgMsg).finish(), { timeout: 10_000 });
    const doorbell = (ring: 'tx' | 'rx', tail: number, tNs: number) =>
      svc.publish(subjects.nicDoorbell(host.name, nic.name), pcie.Doorbell.encode({ nic: nic.name, queueSet: 0, ring: ring === 'tx' ? pcie.Ring.RING_TX : pcie.Ring.RING_RX, tail, tNs }).finish());
    const irq = await hv.bindPirq(host.nics.indexOf(nic), 0);
    if (irq.status < 0) throw new Error(`bind_pirq for ${nic.name} failed: ${irq.status}`);
    uplink = { name: nic.name, driver: nicUplink(driver, doorbell, cpu), port: irq.port };
    doorbell('rx', driver.postRxBuffers(), 0);
  }

  const dd = new DriverDomain({ mem, dom0, pages, cpu, bridge: new Bridge(), uplink, ports: { hv, notify } });

  svc.subscribe(subjects.evtchn(host.name, 0), netif.EventBatch.decode, async (batch) => {
    for (const e of batch.events) {
      if (!Number.isFinite(e.tNs) || e.tNs < 0) throw new BadMessageError('bad_time', `event at modelled time ${e.tNs}`);
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
    if (!d || !iface || iface.arch !== 'pv') continue;
    void connectBackend(d.domid, g.name, iface.mac, iface.rx_mode).catch((e) => svc.log.error('vif backend failed', { guest: g.name, error: e }));
  }

  async function connectBackend(domid: number, guest: string, mac: string, rxMode: 'copy' | 'flip'): Promise<void> {
    const be = backendDir(host.name, 0, domid);
    const fe = frontendDir(host.name, domid);
    await store.write(`${be}.frontend-id`, String(domid));
    await store.write(`${be}.mac`, mac);
    await store.write(`${be}.feature-rx-copy`, '1');
    await store.write(`${be}.feature-rx-flip`, '1');
    await setState(store, be, XenbusState.InitWait);
    await waitForState(store, fe, [XenbusState.Connected], 24 * 3600_000);
    const k = await readKeys(store, fe, ['tx-ring-ref', 'rx-ring-ref', 'event-channel', 'request-rx-copy'] as const);
    const bound = await hv.evtchnBindInterdomain(domid, Number(k['event-channel']), dd.now);
    if (bound.status < 0) throw new Error(`bind_interdomain to ${guest} port ${k['event-channel']}: ${bound.status}`);
    const mode = k['request-rx-copy'] === '1' ? 'copy' : 'flip';
    if (mode !== rxMode) svc.log.info('frontend chose its receive mode', { guest, mode });
    await dd.addVif({ name: `vif${domid}.0`, frontDomid: domid, port: bound.port, rxMode: mode }, Number(k['tx-ring-ref']), Number(k['rx-ring-ref']), dd.now);
    await setState(store, be, XenbusState.Connected);
    svc.log.info('vif connected', { guest, domid, mode });
  }

  svc.setLedgerSource(() => ledger.snapshot());
  svc.setFlowSource?.(() => dd.flows.snapshot());
  // the modelled-time gauge also moves with work that no event started (API calls, timers)
  setInterval(() => svc.metrics.setModelledTime(dd.now), 100).unref();
  await svc.listen();
  svc.ready();
  return svc;
}
