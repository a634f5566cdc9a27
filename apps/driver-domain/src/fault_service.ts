// The driver domain's fault agent on the wire (seed 004). It listens to its NICs' link
// subjects (state changes and heartbeats); when a NIC fails it holds that NIC's outgoing
// frames, tells the hypervisor (fault.<host>), and asks the driver domain of another host on
// the same link to be the guests' temporary backend: frames then cross the network between
// the two driver domains, both ways, until the NIC is back. The same service plays the
// target's part for other hosts. The decisions are FaultAgent's and the data path
// DriverDomain's; this file carries messages.
import { FaultAgent, type DriverDomain, type FaultDecision, type RedirectSender } from '@vnetlab/driver-domain';
import { FifoServer } from '@vnetlab/cost';
import { flowKey } from '@vnetlab/flows';
import { buildArpFrame } from '@vnetlab/frames';
import { ANY, eth, fault, pcie, subjects } from '@vnetlab/proto';
import { BadMessageError, checkModelledTime, type Service } from '@vnetlab/runtime';
import { bridgedGuests, redirectTarget, type Host, type Topology } from '@vnetlab/topology';
import { Counter, Gauge } from 'prom-client';

/** How often the agent looks for silent NICs (wall ms). */
const TICK_MS = 250;

type Phase = 'detected' | 'held' | 'redirected' | 'restored';
const HEALTH: Record<Phase, number> = { detected: 1, held: 1, redirected: 2, restored: 0 };

/** Gratuitous ARPs announcing guests at wherever the frames now come from. */
function announcements(guests: Array<{ mac: string; ip: string }>): Buffer[] {
  return guests.map((g) => buildArpFrame({ op: 1, senderMac: g.mac, senderIp: g.ip, targetMac: '00:00:00:00:00:00', targetIp: g.ip }));
}

/**
 * The network between the two driver domains for redirected frames: a FIFO at `rateBps`
 * with `latencyNs` (the lab models it with the parameters of the hosts' fabric link).
 */
function pacedSender(publish: (frames: eth.Frame[]) => void, rateBps: number, latencyNs: number): RedirectSender {
  const wire = new FifoServer();
  return (frames) => publish(frames.map((f) => ({ data: f.bytes, tNs: wire.serve(f.tNs, (f.bytes.length * 8 * 1e9) / rateBps).end + latencyNs })));
}

/**
 * `reload` starts the NIC driver over on a NIC that died and came back (its rings told to the
 * new device, RX buffers posted): the seed's reloading of the driver.
 */
export function startFaultAgent(svc: Service, topo: Topology, host: Host, ddFor: (nic: string) => DriverDomain | undefined, reload: (nic: string) => Promise<void>): void {
  const nics = host.nics.map((n) => n.name).filter((n) => ddFor(n) !== undefined);
  const agent = new FaultAgent(nics, Date.now());
  const redirected = new Map<string, { host: string; nic: string }>();
  /** NICs that fell silent: the device is gone, and one that answers again is a new one. */
  const dead = new Set<string>();
  /** The NIC each host ever carried traffic for: its frames still in flight after a restore land there. */
  const carriedBy = new Map<string, string>();
  /** Hosts whose guests this driver domain carries, with the port and NIC it uses for them. */
  const serving = new Map<string, { port: string; nic: string }>();

  const m = svc.metrics;
  const phases = m.counter('vnetlab_fault_phases_total', 'Phases of NIC failures the fault agent went through (detected, held, redirected, restored)', ['nic', 'phase']);
  const health = m.gauge('vnetlab_nic_health', 'A NIC as the fault agent sees it: 0 working, 1 failed with I/O held, 2 failed with I/O redirected to another host', ['nic']);
  for (const n of nics) health.set({ nic: n }, 0);
  const all = () => [...new Set(nics.map((n) => ddFor(n)!))];
  new Gauge({
    name: 'vnetlab_fault_held_frames', help: 'Frames waiting for a NIC whose link is down', registers: [m.registry],
    collect() {
      this.set(all().reduce((s, d) => s + d.heldFrames(), 0));
    },
  });
  new Counter({
    name: 'vnetlab_redirected_frames_total', help: 'Frames carried between driver domains while a NIC was down (out: sent to the other host, in: received from it)', labelNames: ['direction'], registers: [m.registry],
    collect() {
      this.reset();
      for (const d of all()) {
        this.inc({ direction: 'out' }, d.counters.redirectedOut);
        this.inc({ direction: 'in' }, d.counters.redirectedIn);
      }
    },
  });

  const linkOf = (nic: string) => topo.links.find((l) => l.ends.includes(`${host.name}/${nic}`));
  const senderTo = (to: string, nic: string): RedirectSender => {
    const l = linkOf(nic);
    return pacedSender(
      (frames) => svc.publish(subjects.redirectFrames(to, host.name), eth.FrameBurst.encode({ link: '', from: `${host.name}/${nic}`, frames }).finish()),
      l?.rate_bps ?? 1e9,
      l?.latency_ns ?? 50_000,
    );
  };

  function report(nic: string, phase: Phase, reason: string, tNs: number, extra: Partial<fault.FaultReport> = {}): void {
    const guests = bridgedGuests(host, nic).map((g) => g.name);
    const held = ddFor(nic)?.heldFrames() ?? 0;
    const r: fault.FaultReport = { host: host.name, nic, phase, reason, targetHost: '', guests, tNs, heldFrames: held, ...extra };
    svc.publish(subjects.fault(host.name), fault.FaultReport.encode(r).finish());
    phases.inc({ nic, phase });
    health.set({ nic }, HEALTH[phase]);
    const to = r.targetHost ? ` to ${r.targetHost}` : '';
    svc.event(`fault-${phase}`, `${host.name}/${nic}: ${phase}${to} (${reason}); guests ${guests.join(', ') || 'none'}, ${held} frames held`, { nic, phase, reason, tNs, targetHost: r.targetHost });
    svc.log.warn(`fault agent: ${nic} ${phase}`, { reason, targetHost: r.targetHost, held, tNs });
  }

  async function failed(d: FaultDecision): Promise<void> {
    const dd = ddFor(d.nic)!;
    const t = dd.now;
    await dd.holdUplink(d.nic, true, t);
    // a silent NIC is dead: what sat on its TX ring is lost, and said so
    const lost = d.reason === 'heartbeats_missed' ? await dd.abandonUplink(d.nic, 'nic_dead') : 0;
    if (d.reason === 'heartbeats_missed') dead.add(d.nic);
    report(d.nic, 'detected', lost ? `${d.reason}: ${lost} frames on its TX ring lost` : d.reason, t);
    report(d.nic, 'held', d.reason, t);
    const target = redirectTarget(topo, host.name, d.nic);
    if (!target) return report(d.nic, 'held', 'no_redirect_target', t);
    const guests = bridgedGuests(host, d.nic).filter((g) => g.vni === undefined);
    // frames the target sends back may come before its answer does: they land on this NIC
    carriedBy.set(target.host, d.nic);
    try {
      const msg = await svc.nc.request(subjects.redirect(target.host), fault.RedirectControl.encode({ fromHost: host.name, nic: d.nic, on: true, guests, tNs: t }).finish(), { timeout: 5000 });
      const reply = fault.RedirectReply.decode(msg.data);
      if (!reply.ok) throw new Error(reply.error);
    } catch (e) {
      return report(d.nic, 'held', `redirect_refused: ${(e as Error).message}`, t);
    }
    // the NIC may have come back while the target answered
    if (agent.failed(d.nic) === undefined) return;
    redirected.set(d.nic, target);
    await dd.redirectUplink(d.nic, senderTo(target.host, d.nic), dd.now);
    report(d.nic, 'redirected', d.reason, dd.now, { targetHost: target.host });
  }

  async function recovered(d: FaultDecision): Promise<void> {
    const dd = ddFor(d.nic)!;
    const target = redirected.get(d.nic);
    redirected.delete(d.nic);
    // a NIC that was dead is a fresh device: the driver starts over before anything is sent to it
    const reloaded = dead.delete(d.nic);
    if (reloaded) await reload(d.nic);
    await dd.holdUplink(d.nic, false, dd.now);
    if (target) {
      await svc.nc
        .request(subjects.redirect(target.host), fault.RedirectControl.encode({ fromHost: host.name, nic: d.nic, on: false, guests: [], tNs: dd.now }).finish(), { timeout: 5000 })
        .catch((e: unknown) => svc.log.warn('releasing the temporary backend failed', { target: target.host, error: e }));
    }
    // the network learns that the guests are behind this NIC again
    await dd.sendOnUplink(d.nic, announcements(bridgedGuests(host, d.nic).filter((g) => g.vni === undefined)), dd.now);
    report(d.nic, 'restored', reloaded ? 'nic_back: driver reloaded' : d.reason, dd.now, { targetHost: target?.host ?? '' });
  }

  // one decision at a time, in order: a failure's hold and redirect finish before its recovery
  let chain = Promise.resolve();
  const act = (ds: FaultDecision[]) => {
    for (const d of ds) chain = chain.then(() => (d.kind === 'failed' ? failed(d) : recovered(d))).catch((e: unknown) => svc.log.error('fault agent action failed', { nic: d.nic, error: e }));
  };

  svc.subscribe(subjects.nicLink(host.name, ANY), pcie.LinkState.decode, (ls, msg) => {
    const nic = msg.subject.split('.')[2]!;
    if (ls.nic && ls.nic !== nic) throw new BadMessageError('wrong_nic', `link state of ${ls.nic} on ${msg.subject}`);
    act(agent.report(nic, ls.up, Date.now()));
  });
  const tick = setInterval(() => act(agent.tick(Date.now())), TICK_MS);
  tick.unref();
  svc.onShutdown(() => clearInterval(tick));

  // ---- the target's part: carry another host's guests while its NIC is down ----

  svc.subscribe(subjects.redirect(host.name), fault.RedirectControl.decode, async (rc, msg) => {
    const answer = (r: Partial<fault.RedirectReply>) => msg.respond(fault.RedirectReply.encode({ ok: false, error: '', port: '', nic: '', ...r }).finish());
    checkModelledTime(rc.tNs, 'redirect request');
    const mine = redirectTarget(topo, rc.fromHost, rc.nic);
    const dd = mine && mine.host === host.name ? ddFor(mine.nic) : undefined;
    if (!mine || !dd) {
      answer({ error: `${host.name} shares no link with ${rc.fromHost}/${rc.nic} through a NIC of its driver domain` });
      throw new BadMessageError('not_a_redirect_target', `${rc.fromHost}/${rc.nic} asked ${host.name} to carry its traffic`);
    }
    const port = `redir-${rc.fromHost}`;
    if (!rc.on) {
      // frames still on their way arrive as the NIC would have received them; those that came
      // before this release go through the port first (it goes after them)
      serving.set(rc.fromHost, { port: mine.nic, nic: mine.nic });
      await dd.removeRemotePort(port);
      answer({ ok: true, port, nic: mine.nic });
      svc.event('redirect-released', `${host.name} no longer carries ${rc.fromHost}'s guests`, { from: rc.fromHost });
      return;
    }
    if (serving.get(rc.fromHost)?.port !== port) dd.addRemotePort(port, senderTo(rc.fromHost, mine.nic));
    serving.set(rc.fromHost, { port, nic: mine.nic });
    // the guests announce themselves from here: this switch, and the network beyond the NIC, learn them on the new port
    await dd.fromRemote(port, announcements(rc.guests).map((bytes) => ({ bytes, tNs: Math.max(rc.tNs, dd.now) })));
    answer({ ok: true, port, nic: mine.nic });
    svc.event('redirect-accepted', `${host.name} carries ${rc.fromHost}'s guests (${rc.guests.map((g) => g.name).join(', ')}) through ${mine.nic}`, { from: rc.fromHost, tNs: rc.tNs });
  });

  svc.subscribe(subjects.redirectFrames(host.name, ANY), eth.FrameBurst.decode, async (burst, msg) => {
    const from = msg.subject.split('.')[3]!;
    for (const f of burst.frames) checkModelledTime(f.tNs, 'frame');
    const frames = burst.frames.map((f) => ({ bytes: Buffer.from(f.data), tNs: f.tNs }));
    const serve = serving.get(from);
    if (serve) return ddFor(serve.nic)!.fromRemote(serve.port, frames);
    // frames the temporary backend sends back for this host's guests, as if the failed NIC had received them
    const nic = carriedBy.get(from);
    if (nic) return ddFor(nic)!.fromRemote(nic, frames);
    // nobody here carries them: each is counted lost with its reason, never silently
    const any = ddFor(nics[0] ?? '');
    for (const f of frames) any?.flows.dropped(flowKey(f.bytes), 'no_redirect');
    throw new BadMessageError('no_redirect', `frames from ${from}, which neither carries nor is carried by ${host.name}`);
  });
}
