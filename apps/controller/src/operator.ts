// The operator API: what `vnetlab status|ping|bulk|down` ask of a running lab. The
// controller drives the guests' traffic apps and gathers ledgers and flow counters from
// every service over their Admin APIs.
import * as grpc from '@grpc/grpc-js';
import { balance, mergeFlowCounts, type FlowCount } from '@vnetlab/flows';
import { control } from '@vnetlab/proto';
import { grpcClient, unary } from '@vnetlab/runtime';
import type { Topology } from '@vnetlab/topology';
import type { LabState, ServiceState } from './labfile.js';
import { healthy } from './launcher.js';
import { cpuShares, diffLedger, type LedgerRowLike } from './report.js';

/** Frame bytes that are not payload: Ethernet + IPv4 + UDP/TCP headers. */
const HEADERS = { udp: 14 + 20 + 8, tcp: 14 + 20 + 20 };

const fail = (cb: grpc.sendUnaryData<never>, e: unknown, code = grpc.status.INTERNAL) =>
  cb({ code, details: (e as Error).message } as grpc.ServiceError, null);

class NotFound extends Error {}

export class Operator {
  private readonly admins = new Map<string, control.AdminClient>();
  private readonly guestClients = new Map<string, control.GuestClient>();

  constructor(
    private readonly topo: Topology,
    private readonly lab: LabState,
    private readonly stop: () => void,
  ) {}

  private admin(s: ServiceState): control.AdminClient {
    let c = this.admins.get(s.name);
    if (!c) this.admins.set(s.name, (c = grpcClient(control.AdminClient, s.grpcAddr)));
    return c;
  }

  private guest(name: string): control.GuestClient {
    const s = this.lab.services.find((x) => x.kind === 'guest' && x.name === name);
    if (!s) throw new NotFound(`no guest "${name}" in lab "${this.lab.name}" (guests: ${this.guestNames().join(', ')})`);
    let c = this.guestClients.get(name);
    if (!c) this.guestClients.set(name, (c = grpcClient(control.GuestClient, s.grpcAddr)));
    return c;
  }

  private guestNames(): string[] {
    return this.topo.hosts.flatMap((h) => h.guests.map((g) => g.name));
  }

  /** A guest name or an IPv4 address → the address. */
  private ipOf(dst: string): string {
    for (const h of this.topo.hosts) for (const g of h.guests) if (g.name === dst && g.interfaces[0]) return g.interfaces[0].ip;
    if (/^\d+\.\d+\.\d+\.\d+$/.test(dst)) return dst;
    throw new NotFound(`no guest "${dst}" in lab "${this.lab.name}" (guests: ${this.guestNames().join(', ')})`);
  }

  private async ledgers(): Promise<LedgerRowLike[]> {
    const all = await Promise.all(this.lab.services.map((s) => unary<control.LedgerResponse>((cb) => this.admin(s).ledger({}, cb)).catch(() => ({ rows: [] }))));
    return all.flatMap((r) => r.rows);
  }

  private async flows(): Promise<FlowCount[]> {
    const all = await Promise.all(this.lab.services.map((s) => unary<control.FlowStatsResponse>((cb) => this.admin(s).flows({}, cb)).catch(() => ({ flows: [] }))));
    return mergeFlowCounts(all.map((r) => r.flows.map((f) => ({ ...f, drops: { ...f.drops } }))));
  }

  /** The lab's modelled now: the latest modelled time any service has reached. */
  private async labNow(): Promise<number> {
    const all = await Promise.all(this.lab.services.map((s) => unary<control.HealthResponse>((cb) => this.admin(s).health({}, cb)).catch(() => undefined)));
    return Math.max(0, ...all.map((h) => h?.modelledTimeNs ?? 0));
  }

  async status(): Promise<control.StatusResponse> {
    const services = await Promise.all(
      this.lab.services.map(async (s) => ({ name: s.name, kind: s.kind, host: s.host ?? '', pid: s.pid ?? 0, grpcAddr: s.grpcAddr, metricsUrl: s.metricsUrl, healthy: await healthy(s.httpPort) })),
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
    const dst = this.ipOf(r.dst);
    const client = this.guest(r.src);
    this.guest(r.dst); // a name that is not a guest is refused before anything runs
    const before = await this.ledgers();
    const atNs = await this.labNow();
    const sent = await unary<control.GuestBulkResult>((cb) =>
      client.bulkSend({ dst, proto, bytes: r.bytes, msgSize: r.msgSize || 1472, port: 0, atNs }, new grpc.Metadata(), { deadline: Date.now() + 30 * 60_000 }, cb),
    );
    // Let the last frames land: wait until the flow's counters stop moving.
    let flows = await this.flows();
    for (let i = 0, still = 0; i < 100 && still < 3; i++) {
      await new Promise((res) => setTimeout(res, 100));
      const next = await this.flows();
      const f = next.find((x) => x.flow === sent.flow);
      const prev = flows.find((x) => x.flow === sent.flow);
      const settled = f && balance(f).inFlight === 0;
      still = settled || (f && prev && f.deliveredFrames === prev.deliveredFrames) ? still + 1 : 0;
      flows = next;
    }
    const ledger = diffLedger(before, await this.ledgers());
    const data = flows.find((f) => f.flow === sent.flow);
    const reverse = flows.find((f) => f.flow === reverseFlow(sent.flow));
    const startNs = data?.firstSentNs ?? sent.startNs;
    const endNs = Math.max(data?.lastDeliveredNs ?? 0, sent.endNs);
    const durationNs = Math.max(1, endNs - startNs);
    const payload = proto === 'tcp' ? (sent.bytesAcked || 0) : Math.max(0, (data?.deliveredBytes ?? 0) - (data?.deliveredFrames ?? 0) * HEADERS.udp);
    const hosts = this.topo.hosts.map((h) => ({ name: h.name, hz: h.cpus.hz, cpus: h.cpus.count }));
    const { cpus } = cpuShares(ledger, hosts, durationNs);
    const cpuRows: control.CpuUtil[] = cpus.flatMap((c) => [
      ...Object.entries(c.byDomain).map(([domain, util]) => ({ host: c.host, pcpu: c.pcpu, domain, util })),
      { host: c.host, pcpu: c.pcpu, domain: 'idle', util: c.idle },
    ]);
    const wire = (f: FlowCount): control.FlowCounters => {
      const b = balance(f);
      return { flow: f.flow, sentFrames: f.sentFrames, sentBytes: f.sentBytes, deliveredFrames: f.deliveredFrames, deliveredBytes: f.deliveredBytes, drops: f.drops, inFlight: b.inFlight, firstSentNs: f.firstSentNs ?? 0, lastSentNs: f.lastSentNs ?? 0, firstDeliveredNs: f.firstDeliveredNs ?? 0, lastDeliveredNs: f.lastDeliveredNs ?? 0 };
    };
    return {
      bytesSent: sent.bytesSent,
      bytesDelivered: payload,
      startNs,
      endNs,
      throughputBps: (payload * 8 * 1e9) / durationNs,
      latencyNs: data?.firstDeliveredNs && data.firstSentNs ? data.firstDeliveredNs - data.firstSentNs : 0,
      ledger: ledger.map((x) => ({ ...x })),
      flows: [data, reverse].filter((f): f is FlowCount => !!f).map(wire),
      cpus: cpuRows,
    };
  }

  impl(): control.OperatorServer {
    const run = <Req, Res>(fn: (r: Req) => Promise<Res>) => (call: grpc.ServerUnaryCall<Req, Res>, cb: grpc.sendUnaryData<Res>) => {
      fn(call.request).then((res) => cb(null, res), (e) => fail(cb as grpc.sendUnaryData<never>, e, e instanceof NotFound ? grpc.status.NOT_FOUND : grpc.status.INTERNAL));
    };
    return {
      status: run(() => this.status()),
      ping: run((r: control.PingRequest) => this.ping(r)),
      bulk: run((r: control.BulkRequest) => this.bulk(r)),
      shutdown: (_call, cb) => {
        cb(null, {});
        setTimeout(() => this.stop(), 50);
      },
    };
  }
}

/** "udp a:p>b:q" → "udp b:q>a:p" (the ACKs of a TCP stream). */
function reverseFlow(flow: string): string {
  const m = /^(\w+) (.+)>(.+)$/.exec(flow);
  return m ? `${m[1]} ${m[3]}>${m[2]}` : flow;
}
