// A guest domain (domU): its RAM in the host's machine memory, netfront with shared rings,
// a small network stack, and traffic apps the controller drives over gRPC.
import type * as grpc from '@grpc/grpc-js';
import { CostTable, Cpu, Ledger } from '@vnetlab/cost';
import { GuestKernel } from '@vnetlab/guest';
import { GrantTableWriter } from '@vnetlab/hypervisor';
import { FileMachineMemory, GuestMemory, PagePool } from '@vnetlab/memory';
import { Netfront } from '@vnetlab/netfront';
import { NetStack } from '@vnetlab/netstack';
import { control, netif, subjects, XENSTORE_BUCKET } from '@vnetlab/proto';
import { BadMessageError, HypercallClient, KvStore, startService, type HostShared, type Service, type ServiceConfig, type ServiceSpec } from '@vnetlab/runtime';
import { hostSpec, loadTopology } from '@vnetlab/topology';
import { XenbusState, backendDir, frontendDir, setState, waitForState } from '@vnetlab/xenbus';

/** The port the guest's sinks (UDP and TCP) listen on. */
export const SINK_PORT = 5001;

export const GUEST_SPEC: ServiceSpec = {
  kind: 'guest',
  description: 'A paravirtualized guest domain: netfront, a network stack, and traffic apps.',
  options: {
    topology: { help: 'topology file of the lab' },
    guest: { help: 'name of this guest in the topology' },
    hypervisor: { help: "address (host:port) of this host's hypervisor gRPC server" },
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
  // pv and multiqueue guests run the same netfront; behind it dom0 either bridges and
  // copies (pv) or hands the guest's buffers to its own NIC queue set (multiqueue)
  if (!iface || (iface.arch !== 'pv' && iface.arch !== 'multiqueue')) throw new Error(`guest ${name}: interface arch ${iface?.arch ?? 'none'} is not served by this service yet (pv and multiqueue are)`);
  const rxMode = iface.arch === 'multiqueue' ? 'copy' : iface.rx_mode;
  const svc = await startService({ config: cfg, domain: name, handleSignals: shared.handleSignals });
  const pcpu = `cpu${spec.vcpus[0] ?? 0}`;

  const bootHv = new HypercallClient(String(cfg.options.hypervisor), 0, pcpu);
  await bootHv.waitReady();
  const info = await bootHv.domain(name);
  bootHv.close();
  const hv = new HypercallClient(String(cfg.options.hypervisor), info.domid, pcpu);
  svc.onShutdown(() => hv.close());
  const mem = shared.mem ?? new FileMachineMemory(info.memoryPath, info.memoryFrames);
  if (!shared.mem) svc.onShutdown(() => mem.close());
  const gm = new GuestMemory(mem, info.p2m);
  const reserved = Number(cfg.options['reserved-pages']);
  const ledger = new Ledger(new CostTable());
  const cpu = new Cpu(pcpu, host.cpus.hz, ledger, shared.core?.(pcpu));
  const netfront = new Netfront({
    mem: gm,
    grants: new GrantTableWriter(mem, info.grantFrames),
    backendDomid: 0,
    rxMode,
    pages: new PagePool(info.p2m.map((_, gfn) => gfn).slice(reserved)),
    cpu,
    domain: name,
    hv: { acceptTransfer: (gref, gfn, tNs) => hv.acceptTransfer(gref, gfn, tNs) },
  });
  const stack = new NetStack({ mac: iface.mac, ip: iface.ip });
  stack.bindUdp(SINK_PORT);
  stack.listenTcp(SINK_PORT);

  // xenbus, frontend side: wait for the backend, publish our rings and event channel.
  const store = new KvStore(await svc.kv(XENSTORE_BUCKET));
  const fe = frontendDir(host.name, info.domid);
  const be = backendDir(host.name, 0, info.domid);
  await setState(store, fe, XenbusState.Initialising);
  await waitForState(store, be, [XenbusState.InitWait, XenbusState.Connected]);
  const ev = await hv.evtchnAllocUnbound(0, 0);
  if (ev.status < 0) throw new Error(`evtchn_alloc_unbound failed: ${ev.status}`);
  const kernel = new GuestKernel({
    domain: name,
    mac: iface.mac,
    netfront,
    stack,
    cpu,
    notify: (tNs) => void hv.evtchnSend(ev.port, tNs).catch((e) => svc.log.warn('evtchn send failed', { error: e })),
  });
  svc.subscribe(subjects.evtchn(host.name, info.domid), netif.EventBatch.decode, async (batch) => {
    for (const e of batch.events) {
      if (!Number.isFinite(e.tNs) || e.tNs < 0) throw new BadMessageError('bad_time', `event at modelled time ${e.tNs}`);
      if (e.port !== ev.port) {
        svc.metrics.badMessage('unknown_port', { port: e.port });
        continue;
      }
      await kernel.onEvent(e.tNs);
    }
    svc.metrics.setModelledTime(kernel.now);
  });
  const { txRingRef, rxRingRef } = netfront.setup();
  await store.write(`${fe}.tx-ring-ref`, String(txRingRef));
  await store.write(`${fe}.rx-ring-ref`, String(rxRingRef));
  await store.write(`${fe}.event-channel`, String(ev.port));
  await store.write(`${fe}.request-rx-copy`, rxMode === 'copy' ? '1' : '0');
  await store.write(`${fe}.mac`, iface.mac);
  await setState(store, fe, XenbusState.Connected);
  await waitForState(store, be, [XenbusState.Connected]);
  svc.log.info('netfront connected', { domid: info.domid, port: ev.port, rxMode, arch: iface.arch });

  const ipOf = (dst: string) => {
    for (const h of topo.hosts) for (const g of h.guests) if (g.name === dst) return g.interfaces[0]?.ip ?? dst;
    return dst;
  };
  const fail = (cb: (e: grpc.ServiceError) => void, e: unknown) => cb({ code: 13, details: (e as Error).message } as grpc.ServiceError);

  const impl: control.GuestServer = {
    ping(call, cb) {
      const r = call.request;
      kernel.advanceTo(r.atNs).then(() => kernel.ping(ipOf(r.dst), Math.max(1, r.count || 1), r.size || 56)).then(
        (res) => cb(null, { replies: res.replies, sent: res.sent, received: res.received }),
        (e) => fail(cb, e),
      );
    },
    bulkSend(call, cb) {
      const r = call.request;
      const dst = ipOf(r.dst);
      const port = r.port || SINK_PORT;
      const run = kernel.advanceTo(r.atNs).then(() => (r.proto === 'tcp' ? kernel.tcpBulk(dst, port, r.bytes) : kernel.udpBulk(dst, port, r.bytes, r.msgSize || 1472)));
      run.then(
        (res) => cb(null, { flow: res.flow, bytesSent: res.bytesSent, bytesAcked: r.proto === 'tcp' ? res.bytesSent : 0, startNs: res.startNs, endNs: res.endNs }),
        (e) => fail(cb, e),
      );
    },
    flowStats(_call, cb) {
      cb(null, { flows: kernel.flows.snapshot().map((f) => ({ ...f, inFlight: 0, firstSentNs: f.firstSentNs ?? 0, lastSentNs: f.lastSentNs ?? 0, firstDeliveredNs: f.firstDeliveredNs ?? 0, lastDeliveredNs: f.lastDeliveredNs ?? 0 })) });
    },
  };
  svc.addGrpc(control.GuestService, impl);
  svc.setLedgerSource(() => ledger.snapshot());
  svc.setFlowSource(() => kernel.flows.snapshot());
  // the modelled-time gauge also moves with work that no event started (API calls, timers)
  setInterval(() => svc.metrics.setModelledTime(kernel.now), 100).unref();
  await svc.listen();
  svc.ready();
  return svc;
}
