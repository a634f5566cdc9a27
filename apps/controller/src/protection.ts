// Protection demonstrations: run an attack between two guests and measure what it did to the
// victim (its memory hash, its traffic) and what the checks counted; switch a host's checks
// off to show what they prevent.
import * as grpc from '@grpc/grpc-js';
import { control, hypercall, protection, subjects } from '@vnetlab/proto';
import { grpcClient, unary } from '@vnetlab/runtime';
import type { Topology } from '@vnetlab/topology';
import type { NatsConnection } from '@nats-io/transport-node';
import type { LabState, ServiceState } from './labfile.js';

const fail = (cb: grpc.sendUnaryData<never>, e: unknown) => cb({ code: grpc.status.INTERNAL, details: (e as Error).message } as grpc.ServiceError, null);

/** Attacks the lab knows, what they need and how their effect is judged. */
export const ATTACKS: Record<string, { help: string; sameHost: boolean }> = {
  'spoof-mac': { help: 'the attacker sends frames under the victim\'s MAC (gratuitous ARPs claiming its address)', sameHost: false },
  'ring-overflow': { help: 'a pv attacker writes a TX request producer index 1000 slots past its last request and notifies the backend', sameHost: false },
  'cdna-rx-foreign': { help: 'a cdna attacker enqueues receive buffers in the victim\'s machine frames', sameHost: true },
  'cdna-tx-foreign': { help: 'a cdna attacker enqueues transmit descriptors pointing into the victim\'s machine frames (its memory would leave on the wire)', sameHost: true },
};

export class ProtectionService {
  private readonly protectionOn = new Map<string, boolean>();

  constructor(
    private readonly topo: Topology,
    private readonly lab: LabState,
    private readonly nc: () => NatsConnection,
  ) {}

  private service(kind: string, pred: (s: ServiceState) => boolean): ServiceState {
    const s = this.lab.services.find((x) => x.kind === kind && pred(x));
    if (!s) throw new Error(`no ${kind} service found`);
    return s;
  }

  private guestSpec(name: string) {
    for (const h of this.topo.hosts) for (const g of h.guests) if (g.name === name) return { host: h.name, guest: g, iface: g.interfaces[0]! };
    throw new Error(`no guest "${name}" in lab "${this.lab.name}"`);
  }

  private async violations(host: string): Promise<number> {
    let n = 0;
    for (const s of this.lab.services.filter((x) => x.host === host)) {
      const text = await fetch(s.metricsUrl).then((r) => r.text(), () => '');
      for (const line of text.split('\n')) if (line.startsWith('vnetlab_protection_violations_total{')) n += Number(line.split(' ').pop());
    }
    return n;
  }

  private hash(name: string): Promise<protection.MemoryHashResponse> {
    const c = grpcClient(protection.GuestAttackClient, this.service('guest', (s) => s.name === name).grpcAddr);
    return unary<protection.MemoryHashResponse>((cb) => c.memoryHash({}, cb)).finally(() => c.close());
  }

  private async ping(src: string, dst: string, count: number): Promise<number> {
    const spec = this.guestSpec(dst);
    const c = grpcClient(control.GuestClient, this.service('guest', (s) => s.name === src).grpcAddr);
    const r = await unary<control.PingResponse>((cb) => c.ping({ dst: spec.iface.ip, count, size: 56, intervalNs: 0, atNs: 0 }, cb)).finally(() => c.close());
    return r.received;
  }

  private async bulk(src: string, dst: string, bytes: number): Promise<void> {
    const spec = this.guestSpec(dst);
    const c = grpcClient(control.GuestClient, this.service('guest', (s) => s.name === src).grpcAddr);
    await unary<control.GuestBulkResult>((cb) => c.bulkSend({ dst: spec.iface.ip, proto: 'udp', bytes, msgSize: 1472, port: 0, atNs: 0 }, cb)).finally(() => c.close());
  }

  async setProtection(host: string, on: boolean): Promise<boolean> {
    if (!this.topo.hosts.some((h) => h.name === host)) throw new Error(`no host "${host}" in lab "${this.lab.name}"`);
    this.nc().publish(subjects.protection(host), protection.ProtectionSetting.encode({ on }).finish());
    await this.nc().flush();
    await new Promise((r) => setTimeout(r, 200));
    this.protectionOn.set(host, on);
    return on;
  }

  async attack(r: protection.OperatorAttackRequest): Promise<protection.AttackReport> {
    const kind = ATTACKS[r.kind];
    if (!kind) throw new Error(`unknown attack "${r.kind}" (known: ${Object.keys(ATTACKS).join(', ')})`);
    const a = this.guestSpec(r.attacker);
    const v = this.guestSpec(r.victim);
    if (r.attacker === r.victim) throw new Error('the attacker and the victim must be two guests');
    if (kind.sameHost && a.host !== v.host) throw new Error(`${r.kind} needs the attacker and the victim on one host (${a.host} and ${v.host})`);
    const hv = grpcClient(hypercall.HypervisorClient, this.service('hypervisor', (s) => s.host === v.host).grpcAddr);
    const vInfo = await unary<hypercall.DomainInfo>((cb) => hv.getDomain({ domid: 0, name: r.victim }, cb)).finally(() => hv.close());
    // a third guest that can reach the victim, to see whether its traffic still gets there
    const witness = this.topo.hosts.flatMap((h) => h.guests.map((g) => g.name)).filter((g) => g !== r.attacker && g !== r.victim);
    let observer: string | undefined;
    for (const w of witness) if ((await this.ping(w, r.victim, 1).catch(() => 0)) === 1) { observer = w; break; }

    const before = await this.hash(r.victim);
    const vBefore = await this.violations(a.host);
    const c = grpcClient(protection.GuestAttackClient, this.service('guest', (s) => s.name === r.attacker).grpcAddr);
    const outcome = await unary<protection.AttackOutcome>((cb) =>
      c.attack({ kind: r.kind, victimDomid: vInfo.domid, victimMfns: vInfo.p2m, victimMac: v.iface.mac, victimIp: v.iface.ip }, new grpc.Metadata(), { deadline: Date.now() + 60_000 }, cb),
    ).finally(() => c.close());

    // what the attack needs to take effect: traffic through the planted state
    let reached: number | undefined;
    if (r.kind === 'cdna-rx-foreign') await this.bulk(r.victim, r.attacker, 400_000).catch(() => undefined);
    if (observer) reached = await this.ping(observer, r.victim, 3).catch(() => 0);
    await new Promise((res) => setTimeout(res, 300));
    const after = await this.hash(r.victim);
    const violations = (await this.violations(a.host)) - vBefore;
    const changed = before.sha256 !== after.sha256;
    const on = this.protectionOn.get(a.host) ?? true;
    const leaked = r.kind === 'cdna-tx-foreign' && outcome.accepted > 0;
    const verdict = changed ? 'corrupted' : leaked ? 'leaked' : reached !== undefined && reached < 3 ? 'hijacked' : violations > 0 || outcome.refused > 0 ? 'refused' : 'no effect';
    return {
      kind: r.kind,
      attacker: r.attacker,
      victim: r.victim,
      protection: on,
      outcome,
      victimHashBefore: before.sha256,
      victimHashAfter: after.sha256,
      victimMemoryChanged: changed,
      violations,
      verdict: observer ? `${verdict} (${observer} reached ${r.victim} with ${reached ?? 0} of 3 pings after the attack)` : verdict,
    };
  }

  impl(): protection.ProtectionServer {
    return {
      attack: (call, cb) => void this.attack(call.request).then((r) => cb(null, r), (e) => fail(cb as grpc.sendUnaryData<never>, e)),
      setProtection: (call, cb) => void this.setProtection(call.request.host, call.request.on).then((on) => cb(null, { on }), (e) => fail(cb as grpc.sendUnaryData<never>, e)),
    };
  }
}
