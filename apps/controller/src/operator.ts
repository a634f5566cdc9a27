// The operator API: what `vnetlab status|ping|bulk|down` ask of a running lab. The
// controller drives the guests' traffic apps and gathers ledgers and flow counters from
// every service over their Admin APIs.
import * as grpc from '@grpc/grpc-js';
import { balance, mergeFlowCounts, type FlowCount } from '@vnetlab/flows';
import { control } from '@vnetlab/proto';
import { unary } from '@vnetlab/runtime';
import type { Topology } from '@vnetlab/topology';
import type { LabState, ServiceState } from './labfile.js';
import { healthyAt } from './launcher.js';
import { healthzUrl } from './deployed_lab.js';
import type { EventLog } from './event_log.js';
import { cpuShares, diffLedger, type LedgerRowLike } from './report.js';
import { serviceClient } from './service_client.js';

/** Frame bytes that are not payload: Ethernet + IPv4 + UDP/TCP headers. */
const HEADERS = { udp: 14 + 20 + 8, tcp: 14 + 20 + 20 };

const fail = (cb: grpc.sendUnaryData<never>, e: unknown, code = grpc.status.INTERNAL) => {
  // a service's own refusal, relayed: its status and words, not grpc-js's "13 INTERNAL: " twice
  const relayed = e as Partial<grpc.ServiceError>;
  if (typeof relayed.code === 'number' && relayed.code !== grpc.status.OK && typeof relayed.details === 'string') {
    return cb({ code: relayed.code, details: relayed.details } as grpc.ServiceError, null);
  }
  cb({ code, details: (e as Error).message } as grpc.ServiceError, null);
};

class NotFound extends Error {}
class BadRequest extends Error {}

export class Operator {
  private readonly admins = new Map<string, control.AdminClient>();
  /** Each service's last answer to a flows query (stands in when it does not answer). */
  private readonly lastFlows = new Map<string, control.FlowCounters[]>();
  private readonly guestClients = new Map<string, control.GuestClient>();

  constructor(
    private readonly topo: Topology,
    private readonly lab: LabState,
    private readonly stop: () => void,
    /** The controller's log of the lab's events (vnetlab events). */
    private readonly events?: EventLog,
  ) {}

  private admin(s: ServiceState): control.AdminClient {
    let c = this.admins.get(s.name);
    if (!c) this.admins.set(s.name, (c = serviceClient(control.AdminClient, s)));
    return c;
  }

  private guest(name: string): control.GuestClient {
    const s = this.lab.services.find((x) => x.kind === 'guest' && x.name === name);
    if (!s) throw new NotFound(`no guest "${name}" in lab "${this.lab.name}" (guests: ${this.guestNames().join(', ')})`);
    let c = this.guestClients.get(name);
    if (!c) this.guestClients.set(name, (c = serviceClient(control.GuestClient, s)));
    return c;
  }

  /** The address of "HOST/dom0" when that driver domain has one (driver_domain.ip). */
  private dom0Endpoint(name: string): string | undefined {
    return this.topo.hosts.find((h) => `${h.name}/dom0` === name)?.driver_domain.ip;
  }

  private guestNames(): string[] {
    return this.topo.hosts.flatMap((h) => h.guests.map((g) => g.name));
  }

  /** A guest name, a driver domain with an address of its own ("HOST/dom0") or an IPv4 address → the address. */
  private ipOf(dst: string): string {
    for (const h of this.topo.hosts) for (const g of h.guests) if (g.name === dst && g.interfaces[0]) return g.interfaces[0].ip;
    const dom0 = this.dom0Endpoint(dst);
    if (dom0) return dom0;
    if (/^\d+\.\d+\.\d+\.\d+$/.test(dst)) return dst;
    throw new NotFound(`no guest "${dst}" in lab "${this.lab.name}" (guests: ${this.guestNames().join(', ')})`);
  }

  private async ledgers(): Promise<LedgerRowLike[]> {
    const all = await Promise.all(this.lab.services.map((s) => unary<control.LedgerResponse>((cb) => this.admin(s).ledger({}, cb)).catch(() => ({ rows: [] }))));
    return all.flatMap((r) => r.rows);
  }

  /**
   * Every service's flow counts, merged. A service that does not answer (busy, restarting)
   * is asked once more; if it still does not, its last answer stands in (counts only grow,
   * so it can only undercount), rather than its frames vanishing from the balance.
   */
  private async flows(): Promise<FlowCount[]> {
    const ask = (s: ServiceState) => unary<control.FlowStatsResponse>((cb) => this.admin(s).flows({}, cb));
    const all = await Promise.all(this.lab.services.map(async (s) => {
      const r = await ask(s).catch(() => ask(s)).catch(() => undefined);
      if (r) this.lastFlows.set(s.name, r.flows);
      return r?.flows ?? this.lastFlows.get(s.name) ?? [];
    }));
    return mergeFlowCounts(all.map((fs) => fs.map((f) => ({ ...f, drops: { ...f.drops } }))));
  }

  /** The lab's modelled now: the latest modelled time any service has reached. */
  private async labNow(): Promise<number> {
    const all = await Promise.all(this.lab.services.map((s) => unary<control.HealthResponse>((cb) => this.admin(s).health({}, cb)).catch(() => undefined)));
    return Math.max(0, ...all.map((h) => h?.modelledTimeNs ?? 0));
  }

  async status(): Promise<control.StatusResponse> {
    const services = await Promise.all(
      this.lab.services.map(async (s) => ({ name: s.name, kind: s.kind, host: s.host ?? '', pid: s.pid ?? 0, grpcAddr: s.grpcAddr, metricsUrl: s.metricsUrl, healthy: await healthyAt(healthzUrl(s)) })),
    );
    return { services };
  }

  async ping(r: control.PingRequest): Promise<control.PingResponse> {
    const dst = this.ipOf(r.dst);
    const client = this.guest(r.src);
    const atNs = await this.labNow();
    return unary((cb) => client.ping({ dst, count: r.count || 3, size: r.size || 56, intervalNs: 0, atNs }, cb));
  }

  async bulk(r: control.BulkRequest): Promise<control.BulkResponse> {
    const proto = r.proto === 'tcp' ? 'tcp' : 'udp';
    const wallStart = Date.now();
    const run = await this.transfers([{ src: r.src, dst: r.dst }], proto, r.bytes, r.msgSize, false);
    const t = run.transfers[0];
    const data = run.counters[0];
    return {
      bytesSent: t.bytesSent,
      bytesDelivered: t.bytesDelivered,
      startNs: t.startNs,
      endNs: t.endNs,
      throughputBps: t.throughputBps,
      latencyNs: data?.firstDeliveredNs && data.firstSentNs ? data.firstDeliveredNs - data.firstSentNs : 0,
      ledger: run.ledger,
      flows: run.flows,
      cpus: run.cpus,
      wallS: run.wallS,
      // what befell the lab meanwhile (a NIC failing, a guest moving) explains the figures above
      events: this.events?.since(wallStart) ?? [],
    };
  }

  /** Many bulk transfers started at one modelled time; figures over their common window. */
  async traffic(r: control.TrafficRequest): Promise<control.TrafficResponse> {
    if (r.pairs.length === 0) throw new BadRequest('traffic needs at least one (src, dst) pair');
    if (!(r.bytes > 0)) throw new BadRequest(`traffic needs bytes > 0 per pair, got ${r.bytes}`);
    const proto = r.proto === 'tcp' ? 'tcp' : 'udp';
    const run = await this.transfers(r.pairs, proto, r.bytes, r.msgSize, true);
    return {
      bytesSent: run.transfers.reduce((n, t) => n + t.bytesSent, 0),
      bytesDelivered: run.transfers.reduce((n, t) => n + t.bytesDelivered, 0),
      startNs: run.startNs,
      endNs: run.endNs,
      throughputBps: run.throughputBps,
      transfers: run.transfers,
      ledger: run.ledger,
      flows: run.flows,
      cpus: run.cpus,
    };
  }

  /**
   * Starts every pair's bulk stream at the same modelled time, waits until their frames have
   * landed, and returns the ledger difference, the flows' counters and CPU shares over the
   * common window (first byte sent by any pair to the last byte delivered to any pair).
   * `warm` resolves ARP first (one ping per pair), so that the ledger holds the streams only.
   */
  private async transfers(pairs: control.TrafficPair[], proto: 'udp' | 'tcp', bytes: number, msgSize: number, warm: boolean) {
    const runs = pairs.map((p) => ({ ...p, dstIp: this.ipOf(p.dst), client: this.guest(p.src) }));
    // a name that is not a guest is refused before anything runs
    for (const p of pairs) {
      if (!this.dom0Endpoint(p.dst)) this.guest(p.dst);
      if (p.via) this.guest(p.via);
    }
    if (warm) {
      // one ping at a time per source (its echo ids are per call), sources in parallel
      const bySrc = new Map<string, typeof runs>();
      for (const x of runs) bySrc.set(x.src, [...(bySrc.get(x.src) ?? []), x]);
      await Promise.all([...bySrc.values()].map(async (list) => {
        for (const x of list) {
          // a few tries: a path that never answers still fails below, in the bulk's own ARP
          for (let i = 0; i < 3; i++) {
            const atNs = await this.labNow();
            const r = await unary<control.PingResponse>((cb) => x.client.ping({ dst: x.dstIp, count: 1, size: 8, intervalNs: 0, atNs, via: x.via }, cb)).catch(() => undefined);
            if (r?.received) break;
          }
        }
      }));
    }
    const before = await this.ledgers();
    const atNs = await this.labNow();
    const wallStart = Date.now();
    const sent = await Promise.all(runs.map((x) =>
      unary<control.GuestBulkResult>((cb) =>
        x.client.bulkSend({ dst: x.dstIp, proto, bytes, msgSize: msgSize || 1472, port: 0, atNs, via: x.via }, new grpc.Metadata(), { deadline: Date.now() + 30 * 60_000 }, cb),
      ),
    ));
    const names = new Set(sent.map((s) => s.flow));
    // Let the last frames land: wait until the flows' counters stop moving.
    const moved = (fs: FlowCount[]) => fs.filter((f) => names.has(f.flow)).reduce((n, f) => n + f.sentFrames + f.deliveredFrames + Object.values(f.drops).reduce((a, b) => a + b, 0), 0);
    const landed = (fs: FlowCount[]) => sent.every((s) => {
      const f = fs.find((x) => x.flow === s.flow);
      return f && balance(f).inFlight === 0;
    });
    let flows = await this.flows();
    // wall time at which the frames had landed, for the lab's speed: the first poll of the
    // balanced run that ends the wait (or, if it never balances, the first still one)
    let landedMs = Date.now();
    let wasLanded = landed(flows);
    // balanced three polls in a row; or, while frames are still out (a busy machine delays
    // messages, a late retransmission is still on its way), no counter of the flows moving
    // for three seconds; thirty seconds at most
    for (let i = 0, balanced = 0, still = 0; i < 300 && balanced < 3 && still < 30; i++) {
      await new Promise((res) => setTimeout(res, 100));
      const next = await this.flows();
      const settled = landed(next);
      balanced = settled ? balanced + 1 : 0;
      still = moved(next) === moved(flows) ? still + 1 : 0;
      if (settled && !wasLanded) landedMs = Date.now();
      else if (!settled && still === 1) landedMs = Date.now();
      wasLanded = settled;
      flows = next;
    }
    const ledger = diffLedger(before, await this.ledgers());
    const transfers: control.TrafficFlow[] = [];
    const counters: FlowCount[] = [];
    const involved: FlowCount[] = [];
    runs.forEach((x, i) => {
      const s = sent[i];
      const data = flows.find((f) => f.flow === s.flow);
      const reverse = flows.find((f) => f.flow === reverseFlow(s.flow));
      if (data) counters.push(data);
      for (const f of [data, reverse]) if (f && !involved.includes(f)) involved.push(f);
      const startNs = data?.firstSentNs ?? s.startNs;
      const endNs = Math.max(data?.lastDeliveredNs ?? 0, s.endNs);
      const payload = proto === 'tcp' ? (s.bytesAcked || 0) : Math.max(0, (data?.deliveredBytes ?? 0) - (data?.deliveredFrames ?? 0) * HEADERS.udp);
      transfers.push({ src: x.src, dst: x.dst, flow: s.flow, bytesSent: s.bytesSent, bytesDelivered: payload, startNs, endNs, throughputBps: (payload * 8 * 1e9) / Math.max(1, endNs - startNs) });
    });
    const startNs = Math.min(...transfers.map((t) => t.startNs));
    const endNs = Math.max(...transfers.map((t) => t.endNs));
    const durationNs = Math.max(1, endNs - startNs);
    const total = transfers.reduce((n, t) => n + t.bytesDelivered, 0);
    const hosts = this.topo.hosts.map((h) => ({ name: h.name, hz: h.cpus.hz, cpus: h.cpus.count }));
    const { cpus } = cpuShares(ledger, hosts, durationNs);
    const cpuRows: control.CpuUtil[] = cpus.flatMap((c) => [
      ...Object.entries(c.byDomain).map(([domain, util]) => ({ host: c.host, pcpu: c.pcpu, domain, util })),
      { host: c.host, pcpu: c.pcpu, domain: 'idle', util: c.idle },
    ]);
    return {
      transfers,
      counters,
      startNs,
      endNs,
      throughputBps: (total * 8 * 1e9) / durationNs,
      ledger: ledger.map((x) => ({ ...x })),
      flows: involved.map((f) => this.withLosses(wireCounters(f), runs, wallStart)),
      cpus: cpuRows,
      wallS: (landedMs - wallStart) / 1000,
    };
  }

  /**
   * A flow that does not balance while a service of its path died during the transfer: the
   * frames the dead process held (its queues) died with it; the report names it.
   */
  private withLosses(f: control.FlowCounters, runs: Array<{ src: string; dst: string }>, sinceMs: number): control.FlowCounters {
    // frames missing, not counted twice (in flight below zero is a counting fault to show as it is)
    if (f.inFlight <= 0) return f;
    const ends = new Set(runs.flatMap((r) => [r.src, r.dst]));
    const hosts = new Set([...ends].map((g) => this.lab.services.find((s) => s.name === g)?.host).filter((h): h is string => !!h));
    // what a frame of these guests passes through: the two guests, their hosts' driver domains,
    // NICs and hypervisors, and the fabric and the bus between them
    const onPath = (d: { service: string; kind: string; host?: string }) =>
      ends.has(d.service) || d.kind === 'fabric' || d.kind === 'nats' || (d.host !== undefined && hosts.has(d.host) && d.kind !== 'guest');
    const dead = (this.lab.deaths ?? []).filter((d) => d.atMs >= sinceMs && onPath(d));
    return dead.length ? { ...f, lostWith: [...new Set(dead.map((d) => `${d.service} (${d.how})`))] } : f;
  }

  impl(): control.OperatorServer {
    const run = <Req, Res>(fn: (r: Req) => Promise<Res>) => (call: grpc.ServerUnaryCall<Req, Res>, cb: grpc.sendUnaryData<Res>) => {
      fn(call.request).then((res) => cb(null, res), (e) => fail(cb as grpc.sendUnaryData<never>, e, e instanceof NotFound ? grpc.status.NOT_FOUND : e instanceof BadRequest ? grpc.status.INVALID_ARGUMENT : grpc.status.INTERNAL));
    };
    return {
      status: run(() => this.status()),
      ping: run((r: control.PingRequest) => this.ping(r)),
      bulk: run((r: control.BulkRequest) => this.bulk(r)),
      traffic: run((r: control.TrafficRequest) => this.traffic(r)),
      shutdown: (_call, cb) => {
        cb(null, {});
        setTimeout(() => this.stop(), 50);
      },
      events: (call) => {
        const since = Number(call.request.sinceMs) || 0;
        for (const e of this.events?.since(since) ?? []) call.write(e);
        if (!call.request.follow || !this.events) {
          call.end();
          return;
        }
        // the log is written synchronously: nothing falls between what was sent and what follows
        const stop = this.events.follow((e) => void call.write(e));
        call.on('cancelled', stop);
        call.on('close', stop);
      },
    };
  }
}

function wireCounters(f: FlowCount): control.FlowCounters {
  const b = balance(f);
  return { flow: f.flow, sentFrames: f.sentFrames, sentBytes: f.sentBytes, deliveredFrames: f.deliveredFrames, deliveredBytes: f.deliveredBytes, drops: f.drops, inFlight: b.inFlight, firstSentNs: f.firstSentNs ?? 0, lastSentNs: f.lastSentNs ?? 0, firstDeliveredNs: f.firstDeliveredNs ?? 0, lastDeliveredNs: f.lastDeliveredNs ?? 0, lostWith: [] };
}

/** "udp a:p>b:q" → "udp b:q>a:p" (the ACKs of a TCP stream). */
function reverseFlow(flow: string): string {
  const m = /^(\w+) (.+)>(.+)$/.exec(flow);
  return m ? `${m[1]} ${m[3]}>${m[2]}` : flow;
}
