// The physical network between hosts: every link with its rate, latency and loss. Frames a
// NIC puts on its wire arrive at the NIC on the other end of a cable, or, on an L2 segment
// joining several NICs, at the NIC behind the destination MAC (flooded while unknown).
import { FlowCounters, flowKey } from '@vnetlab/flows';
import { describeFrame } from '@vnetlab/frames';
import { ANY, eth, pcie, subjects } from '@vnetlab/proto';
import { BadMessageError, startService, Taps, type Service, type ServiceConfig, type ServiceSpec } from '@vnetlab/runtime';
import { loadTopology } from '@vnetlab/topology';
import { FabricLink } from './segment.js';

export const FABRIC_SPEC: ServiceSpec = {
  kind: 'fabric',
  description: 'The physical network: links (cables and L2 segments) between host NICs with rate, latency and loss.',
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

  // Every link, and the link each NIC is on.
  const linkOf = new Map<string, FabricLink>();
  topo.links.forEach((l, i) => {
    const link = new FabricLink(l.name, l.ends, l.form, l.rate_bps, l.latency_ns, l.loss, Number(cfg.options.seed) + i);
    for (const end of l.ends) linkOf.set(end, link);
  });
  // captures of a link, and traces of frames crossing the fabric
  const taps = await new Taps(svc, { link: topo.links.map((l) => l.name) }).start();

  svc.subscribe(subjects.fabricTx(ANY, ANY), eth.FrameBurst.decode, (burst, msg) => {
    const [, host, nic] = msg.subject.split('.');
    const from = `${host}/${nic}`;
    const link = linkOf.get(from);
    if (!link) {
      for (const f of burst.frames) flows.dropped(flowKey(Buffer.from(f.data)), 'no_link');
      lost.inc({ link: from, reason: 'no_link' }, burst.frames.length);
      throw new BadMessageError('no_link', `${from} is not attached to any link`);
    }
    const out = new Map<string, { direction: string; frames: eth.Frame[] }>();
    for (const f of burst.frames) {
      const bytes = Buffer.from(f.data.buffer, f.data.byteOffset, f.data.byteLength);
      taps.capture('link', link.name, 'tx', bytes, f.tNs);
      const r = link.carry(from, f.data, f.tNs);
      if (r.drop) {
        lost.inc({ link: link.name, reason: r.drop });
        flows.dropped(flowKey(bytes), `link_${r.drop}`);
      }
      for (const { tap } of taps.traced(bytes)) {
        const where = r.deliveries.map((d) => `${d.to}${d.lost ? ' (lost)' : ` ${((d.arriveNs - f.tNs) / 1000).toFixed(3)} µs later`}`).join(', ');
        const how = r.how === 'cable' ? 'the cable\'s other end' : r.how === 'learned' ? 'the end its destination MAC was learned behind' : 'every other end (destination MAC not learned yet)';
        const arrive = Math.max(f.tNs, ...r.deliveries.map((d) => d.arriveNs));
        taps.hop(tap, {
          component: 'link', step: r.drop ? 'drop' : 'wire', tNs: arrive, startNs: f.tNs, frame: describeFrame(bytes),
          detail: `${link.form} ${link.name} (${link.rateBps / 1e9} Gb/s, ${link.latencyNs / 1000} µs): from ${from} to ${how}${where ? `: ${where}` : ''}${r.drop ? `; dropped: ${r.drop}` : ''}`,
        });
      }
      for (const d of r.deliveries) {
        // one copy per end reached, counted so that the flow's conservation still balances
        if (r.deliveries.length > 1 && d !== r.deliveries[0]) flows.sent(flowKey(bytes), bytes.length);
        if (d.lost) {
          lost.inc({ link: d.direction, reason: 'link_loss' });
          flows.dropped(flowKey(bytes), 'link_loss');
          continue;
        }
        carried.inc({ link: d.direction });
        bytesC.inc({ link: d.direction }, f.data.length);
        const o = out.get(d.to) ?? { direction: d.direction, frames: [] };
        o.frames.push({ data: f.data, tNs: d.arriveNs });
        out.set(d.to, o);
        now = Math.max(now, d.arriveNs);
      }
    }
    for (const [to, o] of out) {
      const [toHost, toNic] = to.split('/');
      svc.publish(subjects.nicRx(toHost!, toNic!), eth.FrameBurst.encode({ link: o.direction, from, frames: o.frames }).finish());
    }
    m.setModelledTime(now);
  });

  // Fault injection on a link: a loss rate, or a cut. A cut link carries nothing and its ends
  // lose carrier (each NIC is told, and says so on its link subject); mending brings it back.
  const byName = new Map([...new Set(linkOf.values())].map((l) => [l.name, l]));
  const cuts = m.counter('vnetlab_link_cuts_total', 'Times a link was cut or mended', ['link', 'state']);
  svc.subscribe(subjects.linkFault(), eth.LinkFault.decode, (f, msg) => {
    const link = byName.get(f.link) ?? linkOf.get(f.link);
    if (!link) {
      msg.respond(eth.LinkFaultResult.encode({ link: f.link, ends: [], error: `no link or link end "${f.link}" (links: ${topo.links.map((l) => l.name).join(', ')})` }).finish());
      throw new BadMessageError('unknown_link', `no link or link end "${f.link}"`);
    }
    if (!(f.loss >= 0 && f.loss <= 1)) {
      msg.respond(eth.LinkFaultResult.encode({ link: link.name, ends: [...link.ends], error: `loss must be in 0..1, got ${f.loss}` }).finish());
      throw new BadMessageError('bad_loss', `loss ${f.loss} for ${link.name}`);
    }
    link.setLoss(f.loss);
    if (link.cut !== f.cut) {
      link.setCut(f.cut);
      cuts.inc({ link: link.name, state: f.cut ? 'cut' : 'mended' });
      for (const end of link.ends) {
        const [h, n] = end.split('/') as [string, string];
        svc.publish(subjects.nicFault(h, n), pcie.NicFault.encode({ nic: n, fail: f.cut, carrier: true }).finish());
      }
      svc.event(f.cut ? 'link-cut' : 'link-mended', `${link.name} (${link.ends.join(' ↔ ')}) ${f.cut ? 'cut' : 'mended'}`, { link: link.name, tNs: now });
      svc.log.warn(f.cut ? 'link cut' : 'link mended', { link: link.name });
    }
    msg.respond(eth.LinkFaultResult.encode({ link: link.name, ends: [...link.ends], error: '' }).finish());
  });

  svc.setFlowSource(() => flows.snapshot());
  await svc.listen();
  svc.ready();
  return svc;
}
