// The hypervisor of one host: owns the machine memory's frame table, grant tables, event
// channels and interrupt routing; serves hypercalls over a gRPC stream per domain and
// delivers virtual interrupts on NATS.
import type * as grpc from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { CostTable } from '@vnetlab/cost';
import { Hypervisor } from '@vnetlab/hypervisor';
import { FileMachineMemory } from '@vnetlab/memory';
import { fault, hypercall, netif, pcie, protection, subjects } from '@vnetlab/proto';
import { BadMessageError, checkModelledTime, DOMAIN_TOKEN_HEADER, startService, type HostShared, type Service, type ServiceConfig, type ServiceSpec } from '@vnetlab/runtime';
import { domainPages, hostMemoryPath, hostSpec, loadTopology, queueSetIrq, queueSetPlan } from '@vnetlab/topology';
import { decodeHypercall, emptyResponse, MalformedHypercall, runHypercall } from './hypercalls.js';
import { addMigrationService } from './migration_service.js';

export const HYPERVISOR_SPEC: ServiceSpec = {
  kind: 'hypervisor',
  description: 'The Xen hypervisor of one host: frame table, grant tables, event channels, interrupt routing.',
  options: {
    topology: { help: 'topology file of the lab' },
    'mem-dir': { help: 'directory of the machine-memory files (tmpfs)', default: '/dev/shm' },
    protection: { help: 'enforce grant/ownership checks (off only to demonstrate why they exist)', type: 'boolean', default: true },
    'domain-tokens': { help: "JSON file {domain name: credential} written by the toolstack; a hypercall stream is bound to the domain whose credential it presents (none: no check)" },
  },
};

/** Starts the service; `shared` carries what services co-located in one host process share. */
export async function startHypervisor(cfg: ServiceConfig, shared: HostShared = {}): Promise<Service> {
  const topo = loadTopology(String(cfg.options.topology));
  const host = hostSpec(topo, cfg.host);
  const svc = await startService({ config: cfg, domain: 'xen', handleSignals: shared.handleSignals });
  const m = svc.metrics;
  const hypercalls = m.counter('vnetlab_hypercalls_total', 'Hypercalls served, by operation and result', ['op', 'result']);
  const violations = m.counter('vnetlab_protection_violations_total', 'Operations the hypervisor refused, by kind and domain', ['kind', 'domain']);
  const upcalls = m.counter('vnetlab_virq_delivered_total', 'Virtual interrupts (event-channel upcalls) delivered, by domain', ['domain']);
  const pirqs = m.counter('vnetlab_pirq_total', 'Physical interrupts received from devices, by result', ['result']);

  const memPath = hostMemoryPath(String(cfg.options['mem-dir']), topo.name, host.name);
  const mem = shared.mem ?? new FileMachineMemory(memPath, host.memory_mib * 256);
  const hv = new Hypervisor({ mem, costs: new CostTable(), protection: cfg.options.protection !== false });
  // The toolstack's job at boot: dom0 first (domid 0), then every guest of this host.
  hv.createDomain('dom0', domainPages(host.driver_domain.memory_mib));
  for (const g of host.guests) hv.createDomain(g.name, domainPages(g.memory_mib));
  const names = new Map(hv.domainIds().map((id) => [id, hv.domain(id)!.name]));
  // credentials the toolstack issued: credential → domid
  const tokens = cfg.options['domain-tokens'] ? (JSON.parse(readFileSync(String(cfg.options['domain-tokens']), 'utf8')) as Record<string, string>) : undefined;
  const byToken = new Map<string, number>();
  for (const [name, token] of Object.entries(tokens ?? {})) {
    const id = hv.domainIds().find((d) => names.get(d) === name);
    if (id !== undefined) byToken.set(token, id);
  }
  // dom0 drives every physical NIC: NIC i raises irq i.
  // Each queue set has its own interrupt; its owner may bind it (dom0 any of dom0's).
  for (const q of queueSetPlan(host)) {
    const owner = q.owner === 'dom0' ? 0 : hv.domainIds().find((id) => names.get(id) === q.owner);
    if (owner !== undefined) hv.permitPirq(owner, queueSetIrq(q.nicIndex, q.qs));
  }
  // Queue sets a guest drives itself: passthrough behind an IOMMU context that maps exactly
  // its own pages; CDNA on rings in the hypervisor's frames, which only validated
  // descriptors reach. The NIC learns both from the hypervisor, never from the guest.
  const toNic: Array<() => Promise<void>> = [];
  const cdnaReady = new Set<number>();
  for (const q of queueSetPlan(host)) {
    const domid = hv.domainIds().find((id) => names.get(id) === q.guest);
    if (domid === undefined) continue;
    if (q.arch === 'passthrough') {
      const { ctx, rootMfn } = hv.iommu.createContext(domid);
      hv.iommu.mapDomain(ctx, domid);
      const msg = pcie.IommuContext.encode({ nic: q.nic, queueSet: q.qs, rootMfn }).finish();
      toNic.push(() => tellNic(subjects.nicIommu(host.name, q.nic), msg));
    } else if (q.arch === 'cdna') {
      const id = queueSetIrq(q.nicIndex, q.qs);
      const info = hv.cdnaAttach(domid, { qs: id });
      const msg = pcie.QueueSetConfig.encode({ nic: q.nic, queueSet: q.qs, txRingAddr: info.txRingAddr, rxRingAddr: info.rxRingAddr, size: info.size, macs: q.macs, promiscuous: false, ownerDomid: domid }).finish();
      // the guest may only enqueue once the NIC knows where the rings are
      toNic.push(() => tellNic(subjects.nicConfig(host.name, q.nic), msg).then(() => void cdnaReady.add(id)));
    }
  }
  let reportedViolations = 0;

  function info(domid: number): hypercall.DomainInfo {
    const d = hv.domain(domid);
    if (!d) throw Object.assign(new Error(`no domain ${domid}`), { code: 5 });
    return { domid: d.domid, name: d.name, p2m: d.p2m, grantFrames: d.grantFrames, memoryFrames: mem.frames, memoryPath: memPath, unmappedFrames: hv.unmappedFrames(domid) };
  }

  function deliver(domid: number, port: number, tNs: number): void {
    upcalls.inc({ domain: names.get(domid) ?? String(domid) });
    svc.publish(subjects.evtchn(host.name, domid), netif.EventBatch.encode({ events: [{ domid, port, tNs }] }).finish());
  }

  // The hypervisor's log keeps the latest refusals only: counting by position in it would stop
  // at its bound (1000 refusals). Count by its running total; refusals that left the log
  // before they were seen count by kind, under domain "unknown".
  const reportedCounts = new Map<string, number>();
  function noteViolations(): void {
    const fresh = hv.violationTotal - reportedViolations;
    if (fresh <= 0) return;
    const all = hv.violations;
    const seen = new Map<string, number>();
    for (const v of all.slice(Math.max(0, all.length - fresh))) {
      violations.inc({ kind: v.kind, domain: names.get(v.domid) ?? String(v.domid) });
      seen.set(v.kind, (seen.get(v.kind) ?? 0) + 1);
      svc.log.warn('hypercall refused', { kind: v.kind, domid: v.domid, detail: v.detail });
    }
    for (const [kind, n] of hv.violationCounts) {
      const unseen = n - (reportedCounts.get(kind) ?? 0) - (seen.get(kind) ?? 0);
      if (unseen > 0) violations.inc({ kind, domain: 'unknown' }, unseen);
      reportedCounts.set(kind, n);
    }
    reportedViolations = hv.violationTotal;
  }

  const impl: hypercall.HypervisorServer = {
    hypercalls(call: grpc.ServerDuplexStream<hypercall.HypercallRequest, hypercall.HypercallResponse>) {
      // The stream speaks for the domain whose credential it presented, and for no other.
      const token = String(call.metadata.get(DOMAIN_TOKEN_HEADER)[0] ?? '');
      const bound = tokens ? byToken.get(token) : undefined;
      call.on('data', (req: hypercall.HypercallRequest) => {
        if ('undecoded' in req) {
          // not a hypercall at all: answered (there is no seq to echo) and counted; the stream goes on
          m.badMessage('decode', { subject: 'Hypervisor/Hypercalls', error: req.undecoded });
          call.write(emptyResponse(0, -1, `undecodable hypercall: ${String(req.undecoded)}`));
          return;
        }
        try {
          if (tokens && (bound === undefined || req?.caller !== bound)) {
            const kind = bound === undefined ? 'bad_credential' : 'forged_caller';
            violations.inc({ kind, domain: bound === undefined ? 'unknown' : names.get(bound) ?? String(bound) });
            svc.log.warn('hypercall refused', { kind, caller: req?.caller, boundTo: bound });
            call.write(emptyResponse(req?.seq ?? 0, -1, bound === undefined ? 'no valid domain credential on this stream' : `this stream belongs to domain ${bound}, not ${req?.caller}`));
            return;
          }
          if (req.op?.$case === 'cdnaEnqueue' && !cdnaReady.has(req.op.value.queueSet)) {
            // not refused, not yet: the NIC has not been told where this queue set's rings are
            call.write(emptyResponse(req.seq, -11, 'queue set not configured on its NIC yet (EAGAIN)'));
            return;
          }
          const out = runHypercall(hv, req);
          hypercalls.inc({ op: out.op, result: out.response.status >= 0 ? 'ok' : 'error' });
          if (out.event) deliver(out.event.domid, out.event.port, out.event.tNs ?? req.tNs);
          call.write(out.response);
        } catch (e) {
          const reason = e instanceof MalformedHypercall ? e.reason : 'handler';
          m.badMessage(reason, { subject: 'Hypervisor/Hypercalls', caller: req?.caller, error: e });
          call.write(emptyResponse(req?.seq ?? 0, -1, (e as Error).message));
        }
        noteViolations();
      });
      call.on('error', () => undefined);
      call.on('end', () => call.end());
    },
    createDomain(call, cb) {
      try {
        const d = hv.createDomain(call.request.name, call.request.pages);
        names.set(d.domid, d.name);
        cb(null, info(d.domid));
      } catch (e) {
        // out of memory is RESOURCE_EXHAUSTED (8); a bad name or size is the caller's error, INVALID_ARGUMENT (3)
        cb({ code: (e as { reason?: string }).reason === 'bad_argument' ? 3 : 8, details: (e as Error).message } as grpc.ServiceError);
      }
    },
    getDomain(call, cb) {
      const byName = call.request.name ? hv.domainIds().find((id) => hv.domain(id)?.name === call.request.name) : call.request.domid;
      if (byName === undefined || !hv.domain(byName)) return cb({ code: 5, details: `no domain ${call.request.name || call.request.domid} on ${host.name}` } as grpc.ServiceError);
      cb(null, info(byName));
    },
    listDomains(_call, cb) {
      cb(null, { domains: hv.domainIds().map(info) });
    },
  };
  // Domain management is the toolstack's (the control token, or dom0's credential: Xen's
  // toolstack runs in dom0); a guest may read its own DomainInfo only, as it reads its
  // start_info. The hypercall stream checks its domain credential itself.
  const mayAsk = (method: string, call: { metadata: grpc.Metadata; request?: unknown }): boolean => {
    const domid = byToken.get(String(call.metadata.get(DOMAIN_TOKEN_HEADER)[0] ?? ''));
    if (!tokens || domid === undefined) return false;
    if (domid === 0) return true;
    const r = call.request as hypercall.GetDomainRequest;
    return method === 'getDomain' && (r.name ? r.name === names.get(domid) : r.domid === domid);
  };
  svc.addGrpc({ ...hypercall.HypervisorService, hypercalls: { ...hypercall.HypervisorService.hypercalls, requestDeserialize: decodeHypercall as (b: Buffer) => hypercall.HypercallRequest } }, impl, { selfChecked: ['hypercalls'], alsoAccepts: mayAsk });

  // Physical interrupts from this host's NICs, routed to whoever bound the irq (dom0 in PV).
  svc.subscribe(subjects.pirq(host.name), pcie.Interrupt.decode, (irq) => {
    const nicIndex = host.nics.findIndex((n) => n.name === irq.nic);
    if (nicIndex < 0) throw new BadMessageError('unknown_nic', `interrupt from "${irq.nic}", not a NIC of ${host.name}`);
    checkModelledTime(irq.tNs, 'interrupt'); // it becomes the time of the upcalls it raises
    // One physical interrupt, a bit per queue set with news (CDNA's bit vector): the
    // hypervisor scans it and raises the virtual interrupt of each queue set's owner.
    for (let qs = 0; qs < 32; qs++) {
      if ((irq.bitVector & (1 << qs)) === 0) continue;
      const r = hv.raisePirq(queueSetIrq(nicIndex, qs));
      if (!r) {
        pirqs.inc({ result: 'unbound' });
        continue;
      }
      pirqs.inc({ result: 'delivered' });
      deliver(r.domid, r.port, irq.tNs);
    }
  });

  /** Request/reply to a NIC that may still be starting: try until it answers. */
  async function tellNic(subject: string, msg: Uint8Array): Promise<void> {
    for (let i = 0; ; i++) {
      try {
        const r = await svc.nc.request(subject, msg, { timeout: 1000 });
        if (r.data.length > 0) throw new Error(new TextDecoder().decode(r.data));
        return;
      } catch (e) {
        if (i >= 60 || (e as Error).message && !/timeout|no responders/i.test((e as Error).message)) throw e;
        await new Promise((res) => setTimeout(res, 250));
      }
    }
  }
  void Promise.all(toNic.map((f) => f())).catch((e) => svc.log.error('could not program a NIC', { error: e }));

  // Protection off only ever for a demonstration: the operator says so on protection.<host>.
  svc.subscribe(subjects.protection(host.name), protection.ProtectionSetting.decode, (p) => {
    hv.setProtection(p.on);
    svc.log.warn('protection switched', { on: p.on });
  });

  // the driver domain's fault agent tells the hypervisor of a failed NIC and of each step
  // after (seed 004); the hypervisor keeps the NIC's state for the toolstack and dashboards
  const nicDown = svc.metrics.gauge('vnetlab_hypervisor_nic_failed', 'NICs of this host the driver domain reported failed (1) or working (0)', ['nic']);
  svc.subscribe(subjects.fault(host.name), fault.FaultReport.decode, (r) => {
    if (r.host !== host.name || !host.nics.some((n) => n.name === r.nic)) throw new BadMessageError('wrong_nic', `fault report for ${r.host}/${r.nic} on ${host.name}`);
    nicDown.set({ nic: r.nic }, r.phase === 'restored' ? 0 : 1);
    svc.log.warn('driver domain reports a NIC failure phase', { nic: r.nic, phase: r.phase, reason: r.reason, targetHost: r.targetHost });
  });

  // live migration: this host as a domain's source or target
  addMigrationService({ svc, hv, mem, host: host.name, names, bindToken: (token, domid) => void byToken.set(token, domid) });

  svc.setLedgerSource(() => []);
  if (!shared.mem) svc.onShutdown(() => mem.close());
  await svc.listen();
  svc.ready();
  svc.log.info('hypervisor up', { domains: hv.domainIds().length, frames: mem.frames, memPath });
  return svc;
}
