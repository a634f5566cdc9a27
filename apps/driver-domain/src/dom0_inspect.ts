// dom0's switch, chosen per host by the topology (driver_domain.switch), and what an
// operator sees of it: the vswitch's ports (vifs, the NIC, the VXLAN tunnel port with the
// host's VTEP and the remote VTEPs of its VNIs), its counters as metrics, its flow table
// over gRPC (VswitchControl), the steps of traced frames on `trace.<session>`, and the frames
// at its ports for captures of `HOST/dom0/PORT` on `capture.<session>`.
//
// Flows go over gRPC rather than a NATS request: a flow change is an operator command that
// waits for its answer (the switch's canonical text, or why the flow was refused), which
// is what the lab's gRPC APIs are for; NATS carries the modelled signals.
import * as grpc from '@grpc/grpc-js';
import { Bridge } from '@vnetlab/bridge';
import type { Cpu } from '@vnetlab/cost';
import { BridgeSwitch, OvsSwitch, RouterSwitch, type DomainSwitch, type DriverDomain, type FrameEvent, type FrameObserver, type PortTap } from '@vnetlab/driver-domain';
import { describeFrame } from '@vnetlab/frames';
import { inspect } from '@vnetlab/proto';
import { Taps, type HypercallClient, type PointAnswer, type Service } from '@vnetlab/runtime';
import { routerRoutes, type Host, type Topology } from '@vnetlab/topology';
import { VSwitch, VswitchError } from '@vnetlab/vswitch';
import { Counter, Gauge } from 'prom-client';

/** The NIC a host's VXLAN tunnels leave through: the NIC of its VNI interfaces. */
export function tunnelNic(host: Host): string | undefined {
  for (const g of host.guests) for (const i of g.interfaces) if (i.vni !== undefined && i.nic !== undefined) return i.nic;
  return undefined;
}

/** The VNIs with an interface on `host`. */
function vnisOf(host: Host): Set<number> {
  return new Set(host.guests.flatMap((g) => g.interfaces.map((i) => i.vni).filter((v): v is number => v !== undefined)));
}

/**
 * The remote VTEPs of a host: for each of its VNIs, every other host with an interface in
 * that VNI, reached at its underlay address behind its tunnel NIC's MAC (one L2 segment).
 */
export function remoteVteps(topo: Topology, host: Host): Array<{ vni: number; ip: string; mac: string; host: string }> {
  const mine = vnisOf(host);
  const out: Array<{ vni: number; ip: string; mac: string; host: string }> = [];
  for (const other of topo.hosts) {
    if (other.name === host.name || !other.underlay) continue;
    const nic = other.nics.find((n) => n.name === tunnelNic(other));
    if (!nic) continue;
    for (const vni of vnisOf(other)) if (mine.has(vni)) out.push({ vni, ip: other.underlay.ip, mac: nic.mac, host: other.name });
  }
  return out.sort((a, b) => a.vni - b.vni || a.ip.localeCompare(b.ip));
}

export class Dom0Inspect {
  readonly taps: Taps;
  /** Hands dom0's frame events to the trace sessions (active only while one runs). */
  readonly observer: FrameObserver;
  /** Copies frames at the switch ports to the captures of them (active only while one runs). */
  readonly portTap: PortTap;
  private readonly switches = new Map<string, OvsSwitch>();
  /** The driver domain's switches, each with its ports (set once they exist). */
  private domains: () => DriverDomain[] = () => [];
  private vifNames = new Map<string, string>();

  constructor(
    private readonly svc: Service,
    private readonly topo: Topology,
    private readonly host: Host,
    private readonly cpu: Cpu,
    private readonly hv: HypercallClient,
  ) {
    this.taps = new Taps(svc, { port: (point) => this.resolvePort(point) });
    const taps = this.taps;
    this.observer = {
      get active() {
        return taps.tracing;
      },
      frame: (e) => this.onFrame(e),
    };
    const prefix = `${host.name}/dom0/`;
    this.portTap = {
      get active() {
        return taps.capturing;
      },
      frame: (port, direction, bytes, tNs) => taps.capture('port', prefix + port, direction, bytes, tNs),
    };
    this.metrics();
    svc.addGrpc(inspect.VswitchControlService, this.flowsImpl());
  }

  async start(): Promise<void> {
    await this.taps.start();
  }

  /** The switches whose ports captures may name. */
  servePorts(domains: () => DriverDomain[]): void {
    this.domains = domains;
  }

  /**
   * A capture point `HOST/dom0/PORT` of this host: PORT is a port of one of dom0's switches
   * (vif1.0, tap2, vxlan0, eth0, redir-host-b, dom0) or a guest's name standing for its vif.
   */
  private async resolvePort(point: string): Promise<PointAnswer> {
    const prefix = `${this.host.name}/dom0/`;
    if (!point.startsWith(prefix)) return undefined;
    const name = point.slice(prefix.length);
    const ports = [...new Set(this.domains().flatMap((d) => d.switchPorts()))].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
    if (ports.includes(name)) return { serve: point };
    const domid = (await this.guestDomids()).get(name);
    const alias = domid === undefined ? undefined : [`vif${domid}.0`, `tap${domid}`].find((p) => ports.includes(p));
    if (alias) return { serve: prefix + alias };
    return { unknown: ports.map((p) => prefix + p) };
  }

  /** The switch of the bridge (or vswitch) joining `nics` (none: the NIC-less local one). */
  switchFor(nics: string[]): DomainSwitch {
    if (this.host.driver_domain.switch === 'router') return this.router();
    if (this.host.driver_domain.switch !== 'vswitch') return new BridgeSwitch(new Bridge());
    const tnic = tunnelNic(this.host);
    const tunnelled = tnic !== undefined && nics.includes(tnic) && this.host.underlay;
    const spec = this.host.nics.find((n) => n.name === tnic);
    const sw = new OvsSwitch(
      new VSwitch(),
      tunnelled && spec ? { localIp: this.host.underlay!.ip, localMac: spec.mac, underlayMtu: this.host.underlay!.mtu, uplink: spec.name } : undefined,
    );
    if (tunnelled) for (const v of remoteVteps(this.topo, this.host)) sw.addVtep(v.vni, v.ip, v.mac);
    for (const n of nics.length ? nics : ['']) this.switches.set(n, sw);
    return sw;
  }

  /**
   * A routing dom0: the topology's routes (or a host route to every guest it reaches), ports
   * named by NIC or by guest address, the lab's guests as neighbours.
   */
  private router(): RouterSwitch {
    const guests = this.topo.hosts.flatMap((h) => h.guests.flatMap((g) => g.interfaces.map((i) => ({ name: g.name, ip: i.ip, mac: i.mac }))));
    // a route's device or incoming port: a NIC by name, a guest's vif by the guest's address
    const key = (dev: string) => (this.host.nics.some((n) => n.name === dev) ? dev : guests.find((g) => g.name === dev)?.ip ?? dev);
    const routes = routerRoutes(this.topo, this.host).map((r) => ({ dst: r.dst, out: key(r.dev), ...(r.via ? { via: r.via } : {}), ...(r.iif ? { iif: key(r.iif) } : {}) }));
    const nicMac = new Map(this.host.nics.map((n) => [n.name, n.mac]));
    return new RouterSwitch({ routes, neighbours: new Map(guests.map((g) => [g.ip, g.mac])), portMac: (k) => nicMac.get(k) ?? RouterSwitch.vifMac });
  }

  /** The switch flow commands act on: the tunnel NIC's, else the first NIC's. */
  private primary(): OvsSwitch {
    const sw = this.switches.get(tunnelNic(this.host) ?? '') ?? this.switches.get(this.host.nics[0]?.name ?? '') ?? [...this.switches.values()][0];
    if (!sw) throw new VswitchError('unknown_port', `host ${this.host.name} runs the ${this.host.driver_domain.switch}, not the vswitch (driver_domain.switch: vswitch)`);
    return sw;
  }

  // ---- metrics: read from the switches at every scrape ----

  private metrics(): void {
    if (this.host.driver_domain.switch !== 'vswitch') return;
    const reg = this.svc.metrics.registry;
    // a switch with no port (dom0's NIC-less one, when every guest uses a NIC) is not shown
    const stats = () => [...new Set(this.switches.values())].filter((s) => s.vswitch.ports().length > 0).map((s) => s.vswitch.stats());
    new Counter({
      name: 'vnetlab_vswitch_cache_total', help: 'Frames the vswitch decided in its exact-match cache (hit) or on the slow path (miss)', labelNames: ['result'], registers: [reg],
      collect() {
        this.reset();
        for (const st of stats()) {
          this.inc({ result: 'hit' }, st.cache.hits);
          this.inc({ result: 'miss' }, st.cache.misses);
        }
      },
    });
    new Counter({
      name: 'vnetlab_vswitch_port_frames_total', help: 'Frames received (rx) and sent (tx) on each vswitch port; on a tunnel port, outer frames', labelNames: ['port', 'direction'], registers: [reg],
      collect() {
        this.reset();
        for (const st of stats()) for (const [port, c] of Object.entries(st.ports)) {
          this.inc({ port, direction: 'rx' }, c.rxFrames);
          this.inc({ port, direction: 'tx' }, c.txFrames);
        }
      },
    });
    new Counter({
      name: 'vnetlab_vswitch_drops_total', help: 'Frames the vswitch dropped, by reason', labelNames: ['reason'], registers: [reg],
      collect() {
        this.reset();
        for (const st of stats()) for (const [reason, n] of Object.entries(st.drops)) this.inc({ reason }, n ?? 0);
      },
    });
    new Gauge({
      name: 'vnetlab_vswitch_flows', help: 'Flows in the vswitch flow table', registers: [reg],
      collect() {
        this.set(stats().reduce((n, st) => n + st.flows, 0));
      },
    });
  }

  // ---- flows over gRPC (ovs-ofctl add-flow / del-flows / dump-flows) ----

  /** Guest names in a flow stand for their vifs (in_port=vm-a1 → in_port=vif1.0). */
  /** The domid of each guest domain on this host now, by name (the hypervisor's list). */
  private async guestDomids(): Promise<Map<string, number>> {
    return new Map((await this.hv.listDomains()).domains.filter((d) => d.domid !== 0).map((d) => [d.name, d.domid]));
  }

  private async aliases(text: string): Promise<string> {
    if (this.vifNames.size === 0) {
      const ids = await this.guestDomids();
      this.vifNames = new Map(this.host.guests.filter((g) => ids.has(g.name)).map((g) => [g.name, `vif${ids.get(g.name)!}.0`]));
    }
    return text.replace(/\b(in_port=|output:|mirror:)([A-Za-z0-9_.-]+)/g, (all, key: string, name: string) => (this.vifNames.has(name) ? key + this.vifNames.get(name)! : all));
  }

  private flowsImpl(): inspect.VswitchControlServer {
    const run = (fn: (r: inspect.FlowsRequest) => Promise<inspect.FlowsResponse>) => (call: grpc.ServerUnaryCall<inspect.FlowsRequest, inspect.FlowsResponse>, cb: grpc.sendUnaryData<inspect.FlowsResponse>) => {
      fn(call.request).then(
        (res) => cb(null, res),
        (e) => cb({ code: e instanceof VswitchError ? grpc.status.INVALID_ARGUMENT : grpc.status.INTERNAL, details: (e as Error).message } as grpc.ServiceError, null),
      );
    };
    return {
      addFlow: run(async (r) => {
        const canonical = this.primary().vswitch.addFlow(await this.aliases(r.flow));
        this.svc.log.info('flow added', { flow: canonical });
        return { flows: [], changed: 1, canonical };
      }),
      delFlows: run(async (r) => {
        const n = this.primary().vswitch.delFlows(r.flow.trim() === '' ? undefined : await this.aliases(r.flow), { strict: r.strict });
        this.svc.log.info('flows deleted', { match: r.flow, strict: r.strict, n });
        return { flows: [], changed: n, canonical: '' };
      }),
      dumpFlows: run(async () => ({ flows: this.primary().vswitch.dumpFlows(), changed: 0, canonical: '' })),
    };
  }

  // ---- traces: the steps of the probe frame through dom0 ----


  private onFrame(e: FrameEvent): void {
    const hits = this.taps.traced(e.bytes);
    if (hits.length === 0) return;
    const ns = (cycles: number) => (cycles / this.cpu.hz) * 1e9;
    const charges = e.charges.map((c) => ({ primitive: c.primitive, count: c.count, cycles: c.cycles, ns: ns(c.cycles) }));
    const batch = e.batch > 1 ? ` (charges are for a batch of ${e.batch} frames)` : '';
    const frame = describeFrame(e.bytes);
    for (const { tap } of hits) {
      const component = e.step === 'switch' ? this.host.driver_domain.switch : e.step.startsWith('netback') ? 'netback' : 'nic-driver';
      if (e.step !== 'switch' || !e.switchSteps) {
        this.taps.hop(tap, { component, step: e.step, detail: e.detail + batch, tNs: e.tNs, startNs: e.startNs, charges, frame });
        continue;
      }
      // the switch's decision, one hop per step (as ofproto/trace prints it), each at the
      // modelled time its share of the switch's cycles ends
      const total = e.switchSteps.reduce((n, s) => n + (s.primitive ? ns(this.cpu.ledger.costs.cycles(s.primitive, s.count ?? 1)) : 0), 0);
      let t = e.tNs - total;
      for (const s of e.switchSteps) {
        const start = t;
        const c = s.primitive ? [{ primitive: s.primitive, count: s.count ?? 1, cycles: this.cpu.ledger.costs.cycles(s.primitive, s.count ?? 1), ns: 0 }] : [];
        for (const x of c) x.ns = ns(x.cycles);
        t += c.reduce((n, x) => n + x.ns, 0);
        this.taps.hop(tap, { component, step: s.step, detail: s.detail, tNs: t, startNs: start, charges: c, flow: s.flow ?? '', frame });
      }
    }
  }
}

/** Sets up dom0's switch choice, metrics, flow API and trace reports for one service. */
export async function startDom0Inspect(svc: Service, topo: Topology, host: Host, cpu: Cpu, hv: HypercallClient): Promise<Dom0Inspect> {
  const d = new Dom0Inspect(svc, topo, host, cpu, hv);
  await d.start();
  return d;
}
