// The controller's Inspect API: flows of a host's vswitch (relayed to its driver domain
// over gRPC), captures and traces. A capture or trace is a session: a key in the taps KV
// bucket that the services watch; while it exists they publish copies of frames on
// `capture.<session>` or the steps of the probe frame on `trace.<session>`, and the
// controller collects them. Removing the key ends the session everywhere.
import { randomBytes, randomInt } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { control, inspect, subjects, tapKey, TAPS_BUCKET, type TapSpec } from '@vnetlab/proto';
import { unary, UNKNOWN_POINT, type Service } from '@vnetlab/runtime';
import type { Topology } from '@vnetlab/topology';
import type { LabState, ServiceState } from './labfile.js';
import { serviceClient } from './service_client.js';

const PROTOCOLS: Record<string, number> = { icmp: 1, tcp: 6, udp: 17 };
/** Service kinds that see frames and so answer trace sessions. */
const DATA_PATH = new Set(['guest', 'driver-domain', 'nic', 'fabric']);

export class InspectError extends Error {
  constructor(readonly code: grpc.status, message: string) {
    super(message);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A capture's or trace's wall-clock timeout: 0 for the default 10 s, else a number of seconds
 * in (0, max]. A negative or NaN timeout is refused, not taken as the default (the lab fuzzer
 * found a capture asked for -0.5 s running for 10).
 */
export function sessionTimeout(timeoutS: number, max: number): number {
  if (timeoutS === 0) return 10;
  if (!(timeoutS > 0)) throw new InspectError(grpc.status.INVALID_ARGUMENT, `--timeout must be a number of seconds > 0, got ${timeoutS}`);
  if (timeoutS > max) throw new InspectError(grpc.status.INVALID_ARGUMENT, `--timeout is at most ${max} s, got ${timeoutS}`);
  return timeoutS;
}

/**
 * Where a capture point is: a guest, a NIC ("host/nic"), a link of the topology, or a port of
 * a host's driver-domain switch ("host/dom0/port"). A switch port's name is checked by the
 * driver domain that has it (its vifs carry run-time domids), which names its ports if not.
 */
export function resolvePoint(topo: Topology, point: string): 'guest' | 'nic' | 'link' | 'port' {
  if (topo.hosts.some((h) => h.guests.some((g) => g.name === point))) return 'guest';
  if (topo.hosts.some((h) => h.nics.some((n) => `${h.name}/${n.name}` === point))) return 'nic';
  if (topo.links.some((l) => l.name === point)) return 'link';
  const sw = /^([^/]+)\/dom0\/(.+)$/.exec(point);
  if (sw) {
    if (topo.hosts.some((h) => h.name === sw[1])) return 'port';
    throw new InspectError(grpc.status.NOT_FOUND, `no host "${sw[1]}" for switch port "${point}" (hosts: ${topo.hosts.map((h) => h.name).join(', ')})`);
  }
  const all = [
    ...topo.hosts.flatMap((h) => h.guests.map((g) => g.name)),
    ...topo.hosts.flatMap((h) => h.nics.map((n) => `${h.name}/${n.name}`)),
    ...topo.links.map((l) => l.name),
  ];
  const ports = topo.hosts.map((h) => `${h.name}/dom0/PORT`);
  throw new InspectError(grpc.status.NOT_FOUND, `no capture point "${point}" (guests, NICs and links: ${all.join(', ')}; switch ports: ${ports.join(', ')}, PORT a vif such as vif1.0, a guest's name, a NIC, or vxlan0)`);
}

export class InspectApi {
  private readonly clients = new Map<string, grpc.Client>();

  constructor(
    private readonly topo: Topology,
    private readonly lab: LabState,
    private readonly svc: Service,
  ) {}

  private client<T extends grpc.Client>(ctor: new (addr: string, creds: grpc.ChannelCredentials) => T, s: ServiceState, kind: string): T {
    const key = `${kind}|${s.name}`;
    let c = this.clients.get(key) as T | undefined;
    if (!c) this.clients.set(key, (c = serviceClient(ctor, s)));
    return c;
  }

  private guestIp(name: string): string | undefined {
    for (const h of this.topo.hosts) for (const g of h.guests) if (g.name === name) return g.interfaces[0]?.ip;
    return undefined;
  }

  private guestService(name: string): ServiceState {
    const s = this.lab.services.find((x) => x.kind === 'guest' && x.name === name);
    if (!s) throw new InspectError(grpc.status.NOT_FOUND, `no guest "${name}" in lab "${this.lab.name}" (guests: ${this.topo.hosts.flatMap((h) => h.guests.map((g) => g.name)).join(', ')})`);
    return s;
  }

  private async labNow(): Promise<number> {
    const all = await Promise.all(this.lab.services.map((s) => unary<control.HealthResponse>((cb) => this.client(control.AdminClient, s, 'admin').health({}, cb)).catch(() => undefined)));
    return Math.max(0, ...all.map((h) => h?.modelledTimeNs ?? 0));
  }

  private async setTap(tap: TapSpec | undefined, key: string): Promise<void> {
    const kv = await this.svc.kv(TAPS_BUCKET);
    if (tap) await kv.put(key, JSON.stringify(tap));
    else await kv.delete(key);
  }

  // ---- flows ----

  async flows(r: inspect.FlowsRequest): Promise<inspect.FlowsResponse> {
    const host = this.topo.hosts.find((h) => h.name === r.host);
    if (!host) throw new InspectError(grpc.status.NOT_FOUND, `no host "${r.host}" (hosts: ${this.topo.hosts.map((h) => h.name).join(', ')})`);
    if (host.driver_domain.switch !== 'vswitch') throw new InspectError(grpc.status.FAILED_PRECONDITION, `host ${r.host} runs the ${host.driver_domain.switch === 'router' ? 'router' : 'Linux bridge'}, which has no flow table (driver_domain.switch: vswitch)`);
    const s = this.lab.services.find((x) => x.kind === 'driver-domain' && x.host === r.host);
    if (!s) throw new InspectError(grpc.status.NOT_FOUND, `host ${r.host} has no driver domain in this lab`);
    const c = this.client(inspect.VswitchControlClient, s, 'vswitch');
    const call = (fn: (cb: (err: grpc.ServiceError | null, res: inspect.FlowsResponse) => void) => void) => unary<inspect.FlowsResponse>(fn);
    if (r.op === 'add') {
      if (r.flow.trim() === '') throw new InspectError(grpc.status.INVALID_ARGUMENT, 'flows add needs a FLOW, e.g. "priority=100,in_port=vm-a1,actions=drop"');
      return call((cb) => c.addFlow(r, cb));
    }
    if (r.op === 'del') return call((cb) => c.delFlows(r, cb));
    if (r.op === 'dump') return call((cb) => c.dumpFlows(r, cb));
    throw new InspectError(grpc.status.INVALID_ARGUMENT, `flows: the operation is add, del or dump, got "${r.op}"`);
  }

  // ---- capture ----

  async capture(r: inspect.CaptureRequest): Promise<inspect.CaptureResponse> {
    const kind = resolvePoint(this.topo, r.point);
    const timeoutS = sessionTimeout(r.timeoutS, 3600);
    const session = `c${randomBytes(6).toString('hex')}`;
    const frames: inspect.CapturedFrame[] = [];
    let armed = false;
    // the point as the service that armed it names it (a guest's name stands for its vif)
    let point = r.point;
    let unknown: string | undefined;
    const sub = this.svc.nc.subscribe(subjects.capture(session));
    const done = (async () => {
      for await (const m of sub) {
        let f: inspect.CapturedFrame;
        try {
          f = inspect.CapturedFrame.decode(m.data);
        } catch {
          continue;
        }
        if (f.direction === UNKNOWN_POINT) {
          unknown = Buffer.from(f.data).toString();
          break;
        }
        if (f.direction === 'armed') {
          armed = true;
          point = f.point;
        } else frames.push(f);
        if (r.count > 0 && frames.length >= r.count) break;
      }
    })();
    const key = tapKey({ kind: 'capture', session });
    await this.setTap({ kind: 'capture', session, pointKind: kind, point: r.point }, key);
    this.svc.log.info('capture started', { session, point: r.point });
    try {
      await Promise.race([done, sleep(timeoutS * 1000)]);
    } finally {
      await this.setTap(undefined, key).catch(() => undefined);
      sub.unsubscribe();
    }
    if (unknown !== undefined) throw new InspectError(grpc.status.NOT_FOUND, `no switch port "${r.point}" (its ports: ${unknown || 'none'})`);
    if (!armed && frames.length === 0) this.svc.log.warn('capture saw no service arm it', { session, point: r.point });
    const kept = r.count > 0 ? frames.slice(0, r.count) : frames;
    // a point's frames in modelled-time order (its tx and rx come from one service, or a link's ends)
    kept.sort((a, b) => a.tNs - b.tNs);
    return { frames: kept, point, kind };
  }

  // ---- trace ----

  async trace(r: inspect.TraceRequest): Promise<inspect.TraceResponse> {
    const proto = (r.proto || 'icmp').toLowerCase();
    const protocol = PROTOCOLS[proto];
    if (protocol === undefined) throw new InspectError(grpc.status.INVALID_ARGUMENT, `--proto must be icmp, udp or tcp, got "${r.proto}"`);
    const src = this.guestService(r.src);
    const srcIp = this.guestIp(r.src)!;
    const dstIp = this.guestIp(r.dst) ?? (/^\d+\.\d+\.\d+\.\d+$/.test(r.dst) ? r.dst : undefined);
    if (!dstIp) throw new InspectError(grpc.status.NOT_FOUND, `no guest "${r.dst}" (and not an IPv4 address)`);
    const timeoutS = Math.min(sessionTimeout(r.timeoutS, Infinity), 120);
    const session = `t${randomBytes(6).toString('hex')}`;
    const ipId = randomInt(1, 0x10000);
    const hops: inspect.TraceHop[] = [];
    const armed = new Set<string>();
    let lastHop = Date.now();
    let delivered = false;
    const sub = this.svc.nc.subscribe(subjects.trace(session));
    void (async () => {
      for await (const m of sub) {
        let h: inspect.TraceHop;
        try {
          h = inspect.TraceHop.decode(m.data);
        } catch {
          continue;
        }
        if (h.step === 'armed') {
          armed.add(h.service);
          continue;
        }
        hops.push(h);
        lastHop = Date.now();
        if (h.component === 'guest' && h.step === 'deliver' && h.service === r.dst) delivered = true;
      }
    })();
    const key = tapKey({ kind: 'trace', session });
    await this.setTap({ kind: 'trace', session, src: srcIp, dst: dstIp, protocol, ipId }, key);
    try {
      // every component that could see the probe watches for it before it is sent
      const want = this.lab.services.filter((s) => DATA_PATH.has(s.kind)).map((s) => s.name);
      for (const end = Date.now() + 5000; Date.now() < end && !want.every((n) => armed.has(n)); ) await sleep(20);
      const atNs = await this.labNow();
      const probe = this.client(inspect.ProbeClient, src, 'probe');
      const sent = await unary<inspect.ProbeResponse>((cb) => probe.send({ dst: dstIp, proto, ipId, atNs }, new grpc.Metadata(), { deadline: Date.now() + 10_000 }, cb));
      // the trace is complete when the destination took the frame and nothing more came for a
      // moment, or when nothing has come for a second (the frame was dropped on the way)
      lastHop = Date.now();
      const end = Date.now() + timeoutS * 1000;
      while (Date.now() < end) {
        await sleep(50);
        const quiet = Date.now() - lastHop;
        if ((delivered && quiet > 300) || quiet > 1500) break;
      }
      hops.sort((a, b) => a.tNs - b.tNs || (a.service === b.service ? a.seq - b.seq : 0));
      return {
        hops,
        frame: hops.find((h) => h.frame)?.frame ?? '',
        sentNs: hops[0]?.startNs || hops[0]?.tNs || 0,
        delivered,
        note: sent.resolved ? '' : `${r.dst} (${dstIp}) did not answer ARP from ${r.src}: the probe went to the broadcast MAC`,
      };
    } finally {
      await this.setTap(undefined, key).catch(() => undefined);
      sub.unsubscribe();
    }
  }

  impl(): inspect.InspectServer {
    const run = <Req, Res>(fn: (r: Req) => Promise<Res>) => (call: grpc.ServerUnaryCall<Req, Res>, cb: grpc.sendUnaryData<Res>) => {
      fn(call.request).then(
        (res) => cb(null, res),
        (e) => cb({ code: e instanceof InspectError ? e.code : (e as { code?: number }).code ?? grpc.status.INTERNAL, details: (e as { details?: string }).details ?? (e as Error).message } as grpc.ServiceError, null),
      );
    };
    return {
      flows: run((r: inspect.FlowsRequest) => this.flows(r)),
      capture: run((r: inspect.CaptureRequest) => this.capture(r)),
      trace: run((r: inspect.TraceRequest) => this.trace(r)),
    };
  }
}
