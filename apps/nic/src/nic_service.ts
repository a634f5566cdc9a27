// One physical NIC of a host: queue sets whose descriptor rings live in the host's machine
// memory, reached by DMA; frames to and from its link; interrupts to the hypervisor.
import { FlowCounters, flowKey } from '@vnetlab/flows';
import { FileMachineMemory } from '@vnetlab/memory';
import { Nic, iommuDma, machineMemoryDma, type NicDropReason } from '@vnetlab/nic';
import { eth, pcie, protection, subjects } from '@vnetlab/proto';
import { BadMessageError, checkModelledTime, startService, type HostShared, type Service, type ServiceConfig, type ServiceSpec } from '@vnetlab/runtime';
import { hostMemoryPath, hostSpec, loadTopology, queueSetPlan } from '@vnetlab/topology';
import { Taps } from '@vnetlab/runtime';
import { observeWire } from './nic_taps.js';

/** How often a NIC repeats its link state (wall ms): the fault agent's heartbeat. */
export const NIC_HEARTBEAT_MS = 1000;

export const NIC_SPEC: ServiceSpec = {
  kind: 'nic',
  description: 'A multiqueue NIC of one host: descriptor rings, DMA, MAC demux, line rate, coalesced interrupts.',
  options: {
    topology: { help: 'topology file of the lab' },
    nic: { help: 'name of this NIC on its host' },
    'mem-dir': { help: 'directory of the machine-memory files (tmpfs)', default: '/dev/shm' },
  },
};

/** Starts the service; `shared` carries what services co-located in one host process share. */
export async function startNic(cfg: ServiceConfig, shared: HostShared = {}): Promise<Service> {
  const topo = loadTopology(String(cfg.options.topology));
  const host = hostSpec(topo, cfg.host);
  const spec = host.nics.find((n) => n.name === cfg.options.nic);
  if (!spec) throw new Error(`NIC "${String(cfg.options.nic)}" is not on host ${host.name}`);
  const svc = await startService({ config: cfg, domain: spec.name, handleSignals: shared.handleSignals });
  const m = svc.metrics;
  const txFrames = m.counter('vnetlab_nic_tx_frames_total', 'Frames the NIC put on the wire', ['nic']);
  const rxFrames = m.counter('vnetlab_nic_rx_frames_total', 'Frames the NIC wrote into host memory', ['nic']);
  const drops = m.counter('vnetlab_nic_drops_total', 'Frames the NIC dropped, by reason', ['nic', 'reason']);
  const irqs = m.counter('vnetlab_nic_interrupts_total', 'Interrupts the NIC raised', ['nic']);
  const violations = m.counter('vnetlab_protection_violations_total', 'DMAs the IOMMU refused, by kind and the domain whose queue set asked', ['kind', 'domain']);
  // the host's protection switch: off, the IOMMU lets unmapped addresses through (a demonstration)
  let protectionOn = true;

  const mem = shared.mem ?? new FileMachineMemory(hostMemoryPath(String(cfg.options['mem-dir']), topo.name, host.name), host.memory_mib * 256);
  if (!shared.mem) svc.onShutdown(() => mem.close());
  const nic = new Nic({ name: spec.name, lineRateBps: spec.rate_bps, queueSets: spec.queue_sets, dma: machineMemoryDma(mem), offload: spec.offload });
  const flows = new FlowCounters();
  let now = 0;
  // captures of "host/nic" and traces of frames through this NIC
  const point = `${host.name}/${spec.name}`;
  const taps = await new Taps(svc, { nic: [point] }).start();

  function dropped(bytes: Buffer | undefined, reason: NicDropReason, qs?: number): void {
    drops.inc({ nic: spec!.name, reason });
    flows.dropped(bytes ? flowKey(bytes) : 'other', `nic_${reason}`);
    // a DMA a passed-through queue set's IOMMU context refused: a protection violation of its guest
    const owner = qs === undefined ? undefined : plan.find((q) => q.qs === qs && q.arch === 'passthrough')?.guest;
    if (reason === 'dma_fault' && owner) {
      violations.inc({ kind: 'iommu_fault', domain: owner });
      svc.log.warn('DMA refused by the IOMMU', { qs, guest: owner, detail: nic.lastDmaFault?.detail });
    }
  }

  /** Raises every interrupt the NIC owes, each at its own modelled time (coalescing spaces them). */
  function raiseInterrupts(): void {
    for (let next = nic.nextInterruptNs(); next !== undefined; next = nic.nextInterruptNs()) {
      for (const irq of nic.takeInterrupts(next)) {
        irqs.inc({ nic: spec!.name });
        svc.publish(subjects.pirq(host.name), pcie.Interrupt.encode({ nic: spec!.name, vector: host.nics.indexOf(spec!), bitVector: irq.bitVector, tNs: irq.tNs }).finish());
      }
    }
  }

  // IOMMU contexts, programmed by the hypervisor only: queue set → its translating DMA port.
  const contexts = new Map<number, ReturnType<typeof iommuDma>>();
  const plan = queueSetPlan(host).filter((q) => q.nic === spec.name);
  svc.subscribe(subjects.nicIommu(host.name, spec.name), pcie.IommuContext.decode, (c, msg) => {
    // only a passed-through queue set sits behind a context, and its table is in this host's memory
    if (!plan.some((q) => q.qs === c.queueSet && q.arch === 'passthrough')) throw new BadMessageError('not_passthrough', `queue set ${c.queueSet} of ${spec.name} is not passed through`);
    if (!Number.isSafeInteger(c.rootMfn) || c.rootMfn >= mem.frames) throw new BadMessageError('bad_root_mfn', `IOMMU root frame ${c.rootMfn} is not in the host's ${mem.frames} frames`);
    contexts.set(c.queueSet, iommuDma(mem, c.rootMfn, { unchecked: () => !protectionOn }));
    msg.respond(new Uint8Array());
    svc.log.info('IOMMU context set', { qs: c.queueSet, rootMfn: c.rootMfn });
  });

  // Configuration (the driver writing the queue set's registers): request/reply.
  svc.subscribe(subjects.nicConfig(host.name, spec.name), pcie.QueueSetConfig.decode, (c, msg) => {
    try {
      const behindIommu = plan.some((q) => q.qs === c.queueSet && q.arch === 'passthrough');
    const dma = contexts.get(c.queueSet);
    if (behindIommu && !dma) throw new Error(`queue set ${c.queueSet} is passed through: it waits for its IOMMU context`);
    nic.configureQueueSet(c.queueSet, { txRingAddr: c.txRingAddr, rxRingAddr: c.rxRingAddr, size: c.size, macs: c.macs, promiscuous: c.promiscuous, ...(dma ? { dma } : {}) });
      msg.respond(new Uint8Array());
      svc.log.info('queue set configured', { qs: c.queueSet, size: c.size, promiscuous: c.promiscuous, owner: c.ownerDomid });
    } catch (e) {
      msg.respond(new TextEncoder().encode((e as Error).message));
      throw new BadMessageError('bad_config', (e as Error).message);
    }
  });

  svc.subscribe(subjects.nicDoorbell(host.name, spec.name), pcie.Doorbell.decode, (d) => {
    now = Math.max(now, checkModelledTime(d.tNs, 'doorbell'));
    if (d.ring === pcie.Ring.RING_RX) {
      // new buffers: frames waiting in the packet buffer go into them now
      const r = nic.doorbellRx(d.queueSet, d.tail, d.tNs);
      if (r.delivered.length > 0) rxFrames.inc({ nic: spec.name }, r.delivered.length);
      for (const x of r.drops) dropped(x.bytes, x.reason, x.qs ?? d.queueSet);
      raiseInterrupts();
      return;
    }
    if (d.ring !== pcie.Ring.RING_TX) throw new BadMessageError('bad_ring', `doorbell names ring ${d.ring}`);
    const r = nic.doorbellTx(d.queueSet, d.tail, d.tNs);
    for (const x of r.drops) dropped(x.bytes, x.reason, d.queueSet);
    if (r.wire.length > 0) {
      txFrames.inc({ nic: spec.name }, r.wire.length);
      for (const w of r.wire) observeWire(taps, point, spec.rate_bps, 'tx', w.bytes, w.tNs);
      svc.publish(subjects.fabricTx(host.name, spec.name), eth.FrameBurst.encode({ link: '', from: `${host.name}/${spec.name}`, frames: r.wire.map((w) => ({ data: w.bytes, tNs: w.tNs })) }).finish());
      now = Math.max(now, r.wire[r.wire.length - 1].tNs);
    }
    raiseInterrupts();
    m.setModelledTime(now);
  });

  svc.subscribe(subjects.nicRx(host.name, spec.name), eth.FrameBurst.decode, (burst) => {
    // a burst with a frame at no modelled time is refused whole, before its first frame moves the clock
    for (const f of burst.frames) checkModelledTime(f.tNs, 'frame');
    for (const f of burst.frames) {
      const bytes = Buffer.from(f.data.buffer, f.data.byteOffset, f.data.byteLength);
      now = Math.max(now, f.tNs);
      const r = nic.receive(bytes, f.tNs);
      observeWire(taps, point, spec.rate_bps, 'rx', bytes, f.tNs, r.delivered);
      if (r.delivered.length > 0) rxFrames.inc({ nic: spec.name });
      for (const x of r.drops) dropped(x.bytes ?? bytes, x.reason, x.qs);
    }
    raiseInterrupts();
    m.setModelledTime(now);
  });

  // Fault injection: the operator fails or repairs the NIC, or the fabric cuts or mends its
  // cable (carrier). Its link is up while the device works and the cable carries: while down,
  // frames it would send or receive are dropped with reason link_down. It says so on its link
  // subject, and repeats its link state there every heartbeat, where the driver domain's fault
  // agent listens (a NIC that falls silent has died).
  const linkDowns = m.counter('vnetlab_nic_link_changes_total', 'Times the NIC\'s link went down or up', ['nic', 'state']);
  let deviceFailed = false;
  let carrierLost = false;
  const linkState = () => pcie.LinkState.encode({ nic: spec.name, up: !deviceFailed && !carrierLost, tNs: now }).finish();
  svc.subscribe(subjects.nicFault(host.name, spec.name), pcie.NicFault.decode, (f, msg) => {
    if (f.nic && f.nic !== spec.name) throw new BadMessageError('wrong_nic', `fault for ${f.nic} sent to ${spec.name}`);
    const wasUp = !deviceFailed && !carrierLost;
    if (f.carrier) carrierLost = f.fail;
    else deviceFailed = f.fail;
    const up = !deviceFailed && !carrierLost;
    nic.setLink(up, now);
    if (up !== wasUp) linkDowns.inc({ nic: spec.name, state: up ? 'up' : 'down' });
    svc.publish(subjects.nicLink(host.name, spec.name), linkState());
    // the operator asks and waits for this answer: its state after the change, never a heartbeat sent before it
    if (msg.reply) msg.respond(linkState());
    const what = f.carrier ? (f.fail ? 'cable cut' : 'cable mended') : f.fail ? 'failed' : 'repaired';
    svc.event(f.fail ? 'nic-failed' : 'nic-repaired', `${host.name}/${spec.name} ${what}: link ${up ? 'up' : 'down'}`, { tNs: now, nic: spec.name, carrier: f.carrier });
    svc.log.warn(`NIC ${what}: link ${up ? 'up' : 'down'}`, { tNs: now });
  });
  const heartbeat = setInterval(() => svc.publish(subjects.nicLink(host.name, spec.name), linkState()), NIC_HEARTBEAT_MS);
  heartbeat.unref();
  svc.onShutdown(() => clearInterval(heartbeat));

  svc.subscribe(subjects.protection(host.name), protection.ProtectionSetting.decode, (p) => {
    protectionOn = p.on;
    svc.log.warn('protection switched', { on: p.on });
  });

  svc.setFlowSource(() => flows.snapshot());
  await svc.listen();
  svc.ready();
  return svc;
}
