// The physical network between hosts: every link with its rate, latency and loss. Frames a
// NIC puts on its wire arrive at the NIC on the other end of the link.
import { FlowCounters, flowKey } from '@vnetlab/flows';
import { ANY, eth, subjects } from '@vnetlab/proto';
import { BadMessageError, startService, type Service, type ServiceConfig, type ServiceSpec } from '@vnetlab/runtime';
import { loadTopology } from '@vnetlab/topology';
import { LinkDirection } from './link.js';

export const FABRIC_SPEC: ServiceSpec = {
  kind: 'fabric',
  description: 'The physical network: links between host NICs with rate, latency and loss.',
  options: { topology: { help: 'topology file of the lab' }, seed: { help: 'seed of the loss process', type: 'number', default: 1 } },
};

/** Starts the service; `shared` carries what services co-located in one host process share. */
export async function startFabric(cfg: ServiceConfig, shared: { handleSignals?: boolean } = {}): Promise<Service> {
  const topo = loadTopology(String(cfg.options.topology));
  const svc = await startService({ config: cfg, domain: 'fabric', handleSignals: shared.handleSignals });
  const m = svc.metrics;
  const carried = m.counter('vnetlab_link_frames_total', 'Frames carried by a link direction', ['link']);
  const bytesC = m.counter('vnetlab_link_bytes_total', 'Bytes carried by a link direction', ['link']);
  const lost = m.counter('vnetlab_link_drops_total', 'Frames a link dropped, by reason', ['link', 'reason']);
  const flows = new FlowCounters();
  let now = 0;

  // One direction per (link, sending end).
  const dirs = new Map<string, LinkDirection>();
  topo.links.forEach((l, i) => {
    const seed = Number(cfg.options.seed) + i;
    dirs.set(l.a, new LinkDirection(`${l.a}->${l.b}`, l.b, l.rate_bps, l.latency_ns, l.loss, seed * 2));
    dirs.set(l.b, new LinkDirection(`${l.b}->${l.a}`, l.a, l.rate_bps, l.latency_ns, l.loss, seed * 2 + 1));
  });

  svc.subscribe(subjects.fabricTx(ANY, ANY), eth.FrameBurst.decode, (burst, msg) => {
    const [, host, nic] = msg.subject.split('.');
    const from = `${host}/${nic}`;
    const dir = dirs.get(from);
    if (!dir) {
      for (const f of burst.frames) flows.dropped(flowKey(Buffer.from(f.data)), 'no_link');
      lost.inc({ link: from, reason: 'no_link' }, burst.frames.length);
      throw new BadMessageError('no_link', `${from} is not attached to any link`);
    }
    const out: eth.Frame[] = [];
    for (const f of burst.frames) {
      const r = dir.carry(f.data.length, f.tNs);
      if (r.lost) {
        lost.inc({ link: dir.name, reason: 'link_loss' });
        flows.dropped(flowKey(Buffer.from(f.data)), 'link_loss');
        continue;
      }
      carried.inc({ link: dir.name });
      bytesC.inc({ link: dir.name }, f.data.length);
      out.push({ data: f.data, tNs: r.arriveNs });
      now = Math.max(now, r.arriveNs);
    }
    if (out.length === 0) return;
    const [toHost, toNic] = dir.to.split('/');
    svc.publish(subjects.nicRx(toHost, toNic), eth.FrameBurst.encode({ link: dir.name, from, frames: out }).finish());
    m.setModelledTime(now);
  });

  svc.setFlowSource(() => flows.snapshot());
  await svc.listen();
  svc.ready();
  return svc;
}
