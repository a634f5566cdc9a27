// Protection demonstrations: run an attack between two guests and measure what it did to the
// victim (its memory hash, its traffic, its latency) and what the checks counted; switch a
// host's checks off to show what they prevent.
import * as grpc from '@grpc/grpc-js';
import { control, hypercall, protection, subjects } from '@vnetlab/proto';
import { unary } from '@vnetlab/runtime';
import type { Topology } from '@vnetlab/topology';
import type { NatsConnection } from '@nats-io/transport-node';
import type { LabState, ServiceState } from './labfile.js';
import { serviceClient } from './service_client.js';

const fail = (cb: grpc.sendUnaryData<never>, e: unknown) => cb({ code: grpc.status.INTERNAL, details: (e as Error).message } as grpc.ServiceError, null);

interface AttackSpec {
  help: string;
  /** The attacker and the victim must share a host (the attack names the victim's frames, or its dom0). */
  sameHost: boolean;
  /** Interface architectures the attacker may have (any if absent). */
  archs?: string[];
  /** The kind the guest performs, when this name is an alias of it. */
  guestKind?: string;
  /** What makes the attack take effect after it is planted: frames sent to the attacker. */
  trafficToAttacker?: boolean;
  /** The attack leaks: frames of the victim's memory sent (accepted operations). */
  leaks?: boolean;
}

const GRANT_ARCHS = ['pv', 'multiqueue'];
const DESC_ARCHS = ['pv', 'multiqueue', 'cdna', 'passthrough'];

/**
 * Attacks the lab knows, what they need and how their effect is judged. `rx-foreign` and
 * `tx-foreign` take the check from the attacker's interface (pv: netback's grant copy;
 * multiqueue: dom0's grant map of each buffer for the guest's queue set; cdna: the hypervisor's
 * buffer validation; passthrough: the IOMMU); the arch-named kinds are aliases that insist on it.
 */
export const ATTACKS: Record<string, AttackSpec> = {
  'spoof-mac': { help: 'the attacker sends frames under the victim\'s MAC (gratuitous ARPs claiming its address)', sameHost: false },
  'ring-overflow': { help: 'a pv attacker writes a TX request producer index 1000 slots past its last request and notifies the backend; a victim on its host pings a third guest before and from the notification\'s instant, and the report gives its round trip and dom0\'s work', sameHost: false, archs: GRANT_ARCHS },
  'rx-foreign': { help: 'receive buffers in the victim\'s frames, through the attacker\'s interface (pv/multiqueue: a grant of the victim\'s frame; cdna: a CDNA enqueue; passthrough: descriptors on its own ring); frames are then sent to the attacker', sameHost: true, archs: DESC_ARCHS, trafficToAttacker: true },
  'tx-foreign': { help: 'transmit requests pointing into the victim\'s frames, through the attacker\'s interface (as rx-foreign): the victim\'s memory would leave on the wire', sameHost: true, archs: DESC_ARCHS, leaks: true },
  'cdna-rx-foreign': { help: 'rx-foreign from a cdna attacker', sameHost: true, archs: ['cdna'], guestKind: 'rx-foreign', trafficToAttacker: true },
  'cdna-tx-foreign': { help: 'tx-foreign from a cdna attacker', sameHost: true, archs: ['cdna'], guestKind: 'tx-foreign', leaks: true },
  'mq-rx-foreign': { help: 'rx-foreign from a multiqueue attacker (dom0 maps its buffers for its queue set)', sameHost: true, archs: ['multiqueue'], guestKind: 'rx-foreign', trafficToAttacker: true },
  'mq-tx-foreign': { help: 'tx-foreign from a multiqueue attacker', sameHost: true, archs: ['multiqueue'], guestKind: 'tx-foreign', leaks: true },
  'passthrough-rx-foreign': { help: 'rx-foreign from a passthrough attacker (the IOMMU stands between)', sameHost: true, archs: ['passthrough'], guestKind: 'rx-foreign', trafficToAttacker: true },
  'passthrough-tx-foreign': { help: 'tx-foreign from a passthrough attacker', sameHost: true, archs: ['passthrough'], guestKind: 'tx-foreign', leaks: true },
  'grant-foreign': { help: 'a pv or multiqueue attacker points a page of its p2m at the victim\'s frame and grants it to dom0 as receive buffers and a transmit request: the hypervisor\'s grant check (the frame must be the granter\'s) stands between', sameHost: true, archs: GRANT_ARCHS, trafficToAttacker: true, leaks: true },
  'evtchn-storm': { help: 'a pv or multiqueue attacker sends a burst of event-channel notifications to dom0 while the victim pings a third guest; reports the victim\'s round trip and dom0\'s upcalls before and during', sameHost: true, archs: GRANT_ARCHS },
  'give-away-dma': { help: 'a cdna attacker enqueues a receive buffer on its own page, then gives the page to the victim (a grant transfer) while the buffer is enqueued; frames are then sent to the attacker, whose NIC would write them into the victim\'s page', sameHost: true, archs: ['cdna'], trafficToAttacker: true },
};

const measure = (name: string, value: number, unit: string, help: string): protection.Measure => ({ name, value, unit, help });
const median = (xs: number[]) => (xs.length === 0 ? 0 : [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!);

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

  private async metricLines(services: ServiceState[], prefix: string): Promise<string[]> {
    const texts = await Promise.all(services.map((s) => fetch(s.metricsUrl).then((r) => r.text(), () => '')));
    return texts.flatMap((t) => t.split('\n').filter((l) => l.startsWith(prefix)));
  }

  private async violations(host: string): Promise<number> {
    const lines = await this.metricLines(this.lab.services.filter((x) => x.host === host), 'vnetlab_protection_violations_total{');
    return lines.reduce((n, l) => n + Number(l.split(' ').pop()), 0);
  }

  /** The latest modelled time any service of the lab has reached, ns: traffic starts there, never in the lab's past. */
  private async labNow(): Promise<number> {
    const all = await Promise.all(this.lab.services.map((s) => {
      const c = serviceClient(control.AdminClient, s);
      return unary<control.HealthResponse>((cb) => c.health({}, cb)).catch(() => undefined).finally(() => c.close());
    }));
    return Math.max(0, ...all.map((h) => h?.modelledTimeNs ?? 0));
  }

  /** Upcalls dom0 of `host` has taken and the cycles its CPUs spent, from its ledger. */
  private async dom0Load(host: string): Promise<{ upcalls: number; cycles: number; txRequests: number }> {
    const c = serviceClient(control.AdminClient, this.service('driver-domain', (s) => s.host === host));
    const r = await unary<control.LedgerResponse>((cb) => c.ledger({}, cb)).finally(() => c.close());
    return {
      upcalls: r.rows.filter((x) => x.primitive === 'virq').reduce((n, x) => n + Number(x.ops), 0),
      cycles: r.rows.reduce((n, x) => n + x.cycles, 0),
      txRequests: r.rows.filter((x) => x.primitive === 'netback_tx').reduce((n, x) => n + Number(x.ops), 0),
    };
  }

  private hash(name: string): Promise<protection.MemoryHashResponse> {
    const c = serviceClient(protection.GuestAttackClient, this.service('guest', (s) => s.name === name));
    return unary<protection.MemoryHashResponse>((cb) => c.memoryHash({}, cb)).finally(() => c.close());
  }

  private async ping(src: string, dst: string, count: number, at?: number): Promise<control.PingResponse> {
    const spec = this.guestSpec(dst);
    const atNs = at ?? (await this.labNow());
    const c = serviceClient(control.GuestClient, this.service('guest', (s) => s.name === src));
    return unary<control.PingResponse>((cb) => c.ping(control.GuestPingRequest.fromPartial({ dst: spec.iface.ip, count, size: 56, atNs }), new grpc.Metadata(), { deadline: Date.now() + 60_000 }, cb)).finally(() => c.close());
  }

  private reaches(src: string, dst: string): Promise<boolean> {
    return this.ping(src, dst, 1).then((r) => r.received === 1, () => false);
  }

  private async bulk(src: string, dst: string, bytes: number): Promise<void> {
    const spec = this.guestSpec(dst);
    const atNs = await this.labNow();
    const c = serviceClient(control.GuestClient, this.service('guest', (s) => s.name === src));
    await unary<control.GuestBulkResult>((cb) => c.bulkSend(control.GuestBulkRequest.fromPartial({ dst: spec.iface.ip, proto: 'udp', bytes, msgSize: 1472, atNs }), new grpc.Metadata(), { deadline: Date.now() + 120_000 }, cb)).finally(() => c.close());
  }

  private guestAttack(attacker: string, req: Partial<protection.AttackRequest>): Promise<protection.AttackOutcome> {
    const c = serviceClient(protection.GuestAttackClient, this.service('guest', (s) => s.name === attacker));
    const full: protection.AttackRequest = { kind: '', victimDomid: 0, victimMfns: [], victimMac: '', victimIp: '', count: 0, atNs: 0, ...req };
    return unary<protection.AttackOutcome>((cb) => c.attack(full, new grpc.Metadata(), { deadline: Date.now() + 120_000 }, cb)).finally(() => c.close());
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
    const spec = ATTACKS[r.kind];
    if (!spec) throw new Error(`unknown attack "${r.kind}" (known: ${Object.keys(ATTACKS).join(', ')})`);
    const a = this.guestSpec(r.attacker);
    const v = this.guestSpec(r.victim);
    if (r.attacker === r.victim) throw new Error('the attacker and the victim must be two guests');
    if (spec.sameHost && a.host !== v.host) throw new Error(`${r.kind} needs the attacker and the victim on one host (${a.host} and ${v.host})`);
    if (spec.archs && !spec.archs.includes(a.iface.arch)) throw new Error(`${r.kind} needs an attacker with a ${spec.archs.join(' or ')} interface; ${r.attacker}'s is ${a.iface.arch}`);
    const hv = serviceClient(hypercall.HypervisorClient, this.service('hypervisor', (s) => s.host === v.host));
    const vInfo = await unary<hypercall.DomainInfo>((cb) => hv.getDomain({ domid: 0, name: r.victim }, cb)).finally(() => hv.close());
    // a third guest that can reach the victim, to see whether its traffic still gets there
    const witnesses = this.topo.hosts.flatMap((h) => h.guests.map((g) => g.name)).filter((g) => g !== r.attacker && g !== r.victim);
    let observer: string | undefined;
    for (const w of witnesses) if (await this.reaches(w, r.victim)) { observer = w; break; }
    const measures: protection.Measure[] = [];
    const on = this.protectionOn.get(a.host) ?? true;

    const before = await this.hash(r.victim);
    const vBefore = await this.violations(a.host);
    const kind = spec.guestKind ?? r.kind;
    const target = { kind, victimDomid: vInfo.domid, victimMfns: vInfo.p2m, victimMac: v.iface.mac, victimIp: v.iface.ip };
    let outcome: protection.AttackOutcome;
    let starved = false;
    if (kind === 'evtchn-storm') {
      if (!observer) throw new Error(`evtchn-storm needs a third guest that reaches ${r.victim}, to time its pings`);
      ({ outcome, starved } = await this.storm(a.host, r.attacker, r.victim, observer, target, measures));
    } else if (kind === 'ring-overflow' && observer && v.host === a.host) {
      ({ outcome, starved } = await this.overrun(a.host, r.attacker, r.victim, observer, target, measures));
    } else {
      outcome = await this.guestAttack(r.attacker, target);
    }

    // what the attack needs to take effect: frames through the planted buffers
    if (spec.trafficToAttacker) {
      const afterPlant = await this.hash(r.victim);
      let sender: string | undefined;
      for (const g of [r.victim, ...witnesses]) if (await this.reaches(g, r.attacker)) { sender = g; break; }
      if (sender) await this.bulk(sender, r.attacker, 400_000).catch(() => undefined);
      await new Promise((res) => setTimeout(res, 300));
      if (kind === 'give-away-dma') {
        const later = await this.hash(r.victim);
        measures.push(measure('victim_pages_hashed', later.pages, 'pages', 'pages of the victim\'s memory hashed after the traffic: its kernel pages and every frame the hypervisor has it own beyond its p2m'));
        measures.push(measure('victim_memory_changed_by_dma', later.sha256 !== afterPlant.sha256 ? 1 : 0, 'bool', 'the victim\'s memory changed after the page changed hands: the NIC wrote into a page the victim owns'));
      }
    }
    const reached = observer ? (await this.ping(observer, r.victim, 3).catch(() => undefined))?.received ?? 0 : undefined;
    await new Promise((res) => setTimeout(res, 300));
    const after = await this.hash(r.victim);
    const violations = (await this.violations(a.host)) - vBefore;
    const changed = before.sha256 !== after.sha256;
    const leaked = spec.leaks === true && outcome.accepted > 0;
    const verdict = changed ? 'corrupted' : leaked ? 'leaked' : starved ? 'starved' : reached !== undefined && reached < 3 ? 'hijacked' : violations > 0 || outcome.refused > 0 ? 'refused' : 'no effect';
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
      measures,
      victimReached: reached === 3,
      observer: observer ?? '',
    };
  }

  /**
   * An attack on dom0's time, measured from the victim: it pings the observer, the attacker
   * acts from a later instant, and (once dom0 has done what the attack made it do, when
   * `settle`) the victim pings again from that same instant, so its frames meet dom0 while
   * the attack's work holds its CPU. Starved: pings lost, or the round trip more than
   * doubled.
   */
  private async slowedDown(host: string, attacker: string, victim: string, observer: string, target: Partial<protection.AttackRequest>, settle: boolean) {
    const rtts = (p: control.PingResponse) => p.replies.filter((x) => x.ok).map((x) => x.rttNs);
    const t0 = (await this.labNow()) + 1e6;
    const quiet = await this.ping(victim, observer, 5, t0);
    const t1 = (await this.labNow()) + 1e6;
    const load0 = await this.dom0Load(host);
    const outcome = await this.guestAttack(attacker, { ...target, atNs: t1 });
    let load1 = await this.dom0Load(host);
    // a notification reaches dom0 through the bus: wait until its ledger stops moving
    for (let i = 0; settle && i < 30; i++) {
      await new Promise((res) => setTimeout(res, 100));
      const next = await this.dom0Load(host);
      if (next.cycles === load1.cycles) break;
      load1 = next;
    }
    const during = await this.ping(victim, observer, 5, t1);
    const rttQuiet = median(rtts(quiet));
    const rttDuring = Math.max(0, ...rtts(during));
    return { outcome, load0, load1, during, rttQuiet, rttDuring, starved: during.received < during.sent || rttDuring > 2 * rttQuiet };
  }

  /** The storm: a burst of event-channel notifications at dom0, with the victim's round trip before and during. */
  private async storm(host: string, attacker: string, victim: string, observer: string, target: Partial<protection.AttackRequest>, measures: protection.Measure[]) {
    const { outcome, load0, load1, during, rttQuiet, rttDuring, starved } = await this.slowedDown(host, attacker, victim, observer, target, false);
    measures.push(
      measure('notifications_sent', outcome.attempts, 'ops', 'EVTCHNOP_send hypercalls the attacker made'),
      measure('upcalls_raised', outcome.accepted, 'ops', 'of them, upcalls the hypervisor raised in dom0 (the rest coalesced)'),
      measure('dom0_upcalls', load1.upcalls - load0.upcalls, 'ops', 'virtual interrupts dom0 took during the storm'),
      measure('dom0_cycles', load1.cycles - load0.cycles, 'cycles', 'cycles dom0\'s ledger gained during the storm'),
      measure('victim_rtt_quiet_ns', rttQuiet, 'ns', `median round trip ${victim} → ${observer} before the storm`),
      measure('victim_rtt_storm_ns', rttDuring, 'ns', `slowest round trip ${victim} → ${observer} pinging from the storm's first instant`),
      measure('victim_pings_lost', during.sent - during.received, 'pings', 'pings without a reply during the storm'),
    );
    return { outcome, starved };
  }

  /**
   * A forged TX producer index: netback's check refuses it at once; without it dom0 serves a
   * thousand stale slots first.
   */
  private async overrun(host: string, attacker: string, victim: string, observer: string, target: Partial<protection.AttackRequest>, measures: protection.Measure[]) {
    const { outcome, load0, load1, during, rttQuiet, rttDuring, starved } = await this.slowedDown(host, attacker, victim, observer, target, true);
    measures.push(
      measure('dom0_tx_requests', load1.txRequests - load0.txRequests, 'ops', 'TX requests netback served after the forged index (stale slots, with the check off)'),
      measure('dom0_cycles', load1.cycles - load0.cycles, 'cycles', 'cycles dom0\'s ledger gained from the notification'),
      measure('victim_rtt_quiet_ns', rttQuiet, 'ns', `median round trip ${victim} → ${observer} before the attack`),
      measure('victim_rtt_during_ns', rttDuring, 'ns', `slowest round trip ${victim} → ${observer} pinging from the notification's instant`),
      measure('victim_pings_lost', during.sent - during.received, 'pings', 'pings without a reply from the notification\'s instant'),
    );
    return { outcome, starved };
  }

  impl(): protection.ProtectionServer {
    return {
      attack: (call, cb) => void this.attack(call.request).then((r) => cb(null, r), (e) => fail(cb as grpc.sendUnaryData<never>, e)),
      setProtection: (call, cb) => void this.setProtection(call.request.host, call.request.on).then((on) => cb(null, { on }), (e) => fail(cb as grpc.sendUnaryData<never>, e)),
    };
  }
}
