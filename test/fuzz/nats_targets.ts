// Every concrete NATS subject a lab's services listen on: each pattern of SUBJECT_CATALOGUE
// instantiated for the lab's hosts, NICs and domids, with its payload codec, a valid sample
// message, the services that subscribe to it, and the fuzzer's steering of the few messages
// that would be a privileged component's own legitimate signal.
import { buildArpFrame, buildIcmpEchoFrame, buildUdpFrame } from '@vnetlab/frames';
import * as proto from '@vnetlab/proto';
import { eth, fault, inspect, migration, netif, pcie, protection, SUBJECT_CATALOGUE, type SubjectEntry } from '@vnetlab/proto';
import { hostOf, queueSets, type LabView } from './lab_view.js';
import type { Prng } from './prng.js';

/** The encode/decode half of a ts-proto message. */
export interface Codec<T = unknown> {
  encode(message: T): { finish(): Uint8Array };
  decode(input: Uint8Array): T;
}

/** Every wire package of @vnetlab/proto (pcie, eth, ...), by name. */
const MODULES = proto as unknown as Record<string, Record<string, unknown> | undefined>;

/** 'vnetlab.pcie.v1.Doorbell' → pcie.Doorbell; undefined for a JSON payload. */
export function codecOf(entry: SubjectEntry): Codec | undefined {
  if (entry.encoding === 'json') return undefined;
  const m = /^vnetlab\.(\w+)\.v\d+\.(\w+)$/.exec(entry.payload);
  const codec = m ? MODULES[m[1]!]?.[m[2]!] : undefined;
  if (!codec) throw new Error(`the fuzzer has no codec for ${entry.payload} (subject ${entry.pattern})`);
  return codec as Codec;
}

export interface SubjectTarget {
  subject: string;
  entry: SubjectEntry;
  codec: Codec | undefined;
  /** Services subscribed to the subject (from the services' code; checked by the barrage). */
  listeners: string[];
  host?: string;
  nic?: string;
  domid?: number;
  /** A valid message for this subject. */
  sample(rng: Prng): unknown;
  /**
   * A message that a privileged component would legitimately send (a doorbell inside a live
   * ring, a configuration of a queue set in use, an emulated-register write with an in-range
   * value) is turned into one with an out-of-range value; undefined when left as it is. NATS
   * has no per-subject permissions in the lab, so these would be accepted from anyone.
   */
  steer?(msg: unknown, rng: Prng): unknown | undefined;
}

const E1000 = { TDBAL: 0x3800, TDLEN: 0x3808, TDT: 0x3818, RDBAL: 0x2800, RDLEN: 0x2808, RDT: 0x2818, ICR: 0x00c0 } as const;
const E1000_WRITABLE = new Set<number>([E1000.TDBAL, E1000.TDLEN, E1000.TDT, E1000.RDBAL, E1000.RDLEN, E1000.RDT]);

const validTime = (t: number) => Number.isFinite(t) && t >= 0;

/** A real Ethernet frame towards one of the lab's guests (or broadcast). */
function sampleFrame(view: LabView, rng: Prng): Buffer {
  const dst = rng.pick(view.guests);
  const src = rng.pick(view.guests);
  const ends = { srcMac: src.mac, dstMac: dst.mac, srcIp: src.ip, dstIp: dst.ip };
  return rng.weighted<() => Buffer>([
    [3, () => buildUdpFrame({ ...ends, srcPort: rng.range(1024, 65535), dstPort: rng.range(1, 65535), payload: rng.bytes(rng.range(0, 1400)) })],
    [2, () => buildIcmpEchoFrame({ ...ends, id: rng.int(65536), seq: rng.int(65536), data: rng.bytes(rng.range(0, 64)) })],
    [1, () => buildArpFrame({ op: rng.pick([1, 2]), senderMac: src.mac, senderIp: src.ip, targetMac: '00:00:00:00:00:00', targetIp: dst.ip })],
  ])();
}

/**
 * An ARP packet that says a lab guest's IP is at another MAC is ARP spoofing, which ARP itself
 * cannot refuse (Linux neither): the stacks' neighbour entries take it, and they do not age
 * (docs: left for the protection issue). The fuzzer's frames that would say so get the right MAC.
 */
function steerArp(view: LabView, burst: eth.FrameBurst): eth.FrameBurst | undefined {
  let changed = false;
  const frames = burst.frames.map((f) => {
    const d = f.data;
    if (d.length < 42 || d[12] !== 0x08 || d[13] !== 0x06) return f;
    const senderIp = `${d[28]}.${d[29]}.${d[30]}.${d[31]}`;
    const owner = view.guests.find((g) => g.ip === senderIp);
    if (!owner) return f;
    const mac = Buffer.from(owner.mac.split(':').map((x) => parseInt(x, 16)));
    if (Buffer.from(d.subarray(22, 28)).equals(mac)) return f;
    const data = Buffer.from(d);
    mac.copy(data, 22);
    changed = true;
    return { ...f, data };
  });
  return changed ? { ...burst, frames } : undefined;
}

function instantiate(view: LabView, entry: SubjectEntry): SubjectTarget[] {
  const holes = [...entry.pattern.matchAll(/<([^>]+)>/g)].map((m) => m[1]!);
  const known = new Set(['host', 'nic', 'domid', 'session', 'peer']);
  for (const h of holes) if (!known.has(h)) throw new Error(`the fuzzer cannot instantiate <${h}> of ${entry.pattern}`);
  const codec = codecOf(entry);
  type Binding = { host?: string; nic?: string; domid?: number; session?: string; peer?: string };
  let bindings: Binding[] = [{}];
  if (holes.includes('host')) bindings = view.topo.hosts.map((h) => ({ host: h.name }));
  if (holes.includes('nic')) bindings = bindings.flatMap((b) => hostOf(view, b.host!).nics.map((n) => ({ ...b, nic: n.name })));
  if (holes.includes('domid')) bindings = bindings.flatMap((b) => (view.domains.get(b.host!) ?? []).map((d) => ({ ...b, domid: d.domid })));
  if (holes.includes('session')) bindings = bindings.map((b) => ({ ...b, session: 'fuzz' }));
  // another host of the lab (a redirect's other end)
  if (holes.includes('peer')) bindings = bindings.flatMap((b) => view.topo.hosts.filter((h) => h.name !== b.host).slice(0, 1).map((h) => ({ ...b, peer: h.name })));
  return bindings.map((b) => {
    const subject = entry.pattern.replace(/<([^>]+)>/g, (_, k: string) => String(b[k as keyof Binding]));
    return { subject, entry, codec, ...(b.host ? { host: b.host } : {}), ...(b.nic ? { nic: b.nic } : {}), ...(b.domid !== undefined ? { domid: b.domid } : {}), ...behaviour(view, entry.pattern, b) };
  });
}

type Behaviour = Pick<SubjectTarget, 'listeners' | 'sample' | 'steer'>;

/** Per kind of subject: who listens, a valid message, and what to steer. */
function behaviour(view: LabView, pattern: string, b: { host?: string; nic?: string; domid?: number; peer?: string }): Behaviour {
  const host = b.host ? hostOf(view, b.host) : undefined;
  const t = (rng: Prng) => rng.range(0, 5e9);
  const nicName = (rng: Prng) => b.nic ?? (host ? rng.pick(host.nics).name : 'eth0');
  const qsOf = () => queueSets(view, b.host!, b.nic!);
  switch (pattern) {
    case 'evtchn.<host>.<domid>': {
      const d = view.domains.get(b.host!)?.find((x) => x.domid === b.domid);
      const listener = b.domid === 0 ? `${b.host}/dom0` : view.guests.find((g) => g.name === d?.name)?.name;
      return {
        listeners: listener ? [listener] : [],
        sample: (rng) => ({ events: [{ domid: b.domid!, port: rng.range(1, 12), tNs: t(rng) }] }) satisfies netif.EventBatch,
      };
    }
    case 'pirq.<host>':
      return {
        listeners: [`${b.host}/hypervisor`],
        sample: (rng) => ({ nic: nicName(rng), vector: rng.int(64), bitVector: 1 << rng.int(4), tNs: t(rng) }) satisfies pcie.Interrupt,
      };
    case 'nic.<host>.<nic>.doorbell':
      return {
        listeners: [`${b.host}/${b.nic}`],
        sample: (rng) => ({ nic: b.nic!, queueSet: rng.int(qsOf().count), ring: rng.pick([pcie.Ring.RING_TX, pcie.Ring.RING_RX]), tail: rng.int(256), tNs: t(rng) }) satisfies pcie.Doorbell,
        steer: (m, rng) => {
          const d = m as pcie.Doorbell;
          const live = (d.ring === pcie.Ring.RING_TX || d.ring === pcie.Ring.RING_RX) && d.queueSet < qsOf().count && validTime(d.tNs);
          return live && d.tail < 65_536 ? { ...d, tail: 65_536 + rng.int(1 << 20) } : undefined;
        },
      };
    case 'nic.<host>.<nic>.config':
      return {
        listeners: [`${b.host}/${b.nic}`],
        sample: (rng) => ({ nic: b.nic!, queueSet: rng.int(qsOf().count), txRingAddr: 4096 * rng.int(1000), rxRingAddr: 4096 * rng.int(1000), size: 256, macs: [rng.pick(view.guests).mac], promiscuous: rng.chance(0.5), ownerDomid: 0 }) satisfies pcie.QueueSetConfig,
        steer: (m, rng) => {
          const c = m as pcie.QueueSetConfig;
          return c.queueSet < qsOf().count ? { ...c, size: rng.pick([0, 1, 3, 1000, 1 << 20]) } : undefined;
        },
      };
    case 'nic.<host>.<nic>.rx':
      return {
        listeners: [`${b.host}/${b.nic}`],
        sample: (rng) => ({ link: view.topo.links[0]?.name ?? 'l', from: `${b.host}/${b.nic}`, frames: Array.from({ length: rng.range(1, 4) }, () => ({ data: sampleFrame(view, rng), tNs: t(rng) })) }) satisfies eth.FrameBurst,
        steer: (m) => steerArp(view, m as eth.FrameBurst),
      };
    case 'fabric.<host>.<nic>.tx':
      return {
        listeners: ['fabric'],
        sample: (rng) => ({ link: '', from: `${b.host}/${b.nic}`, frames: Array.from({ length: rng.range(1, 4) }, () => ({ data: sampleFrame(view, rng), tNs: t(rng) })) }) satisfies eth.FrameBurst,
        steer: (m) => steerArp(view, m as eth.FrameBurst),
      };
    case 'nic.<host>.<nic>.link':
      return {
        listeners: [`${b.host}/dom0`],
        sample: (rng) => ({ nic: b.nic!, up: rng.chance(0.5), tNs: t(rng) }) satisfies pcie.LinkState,
        // a NIC's word that its link is down is the NIC's own signal (the fault agent acts on it): the fuzzer's name another NIC
        steer: (m) => {
          const l = m as pcie.LinkState;
          return !l.up && (l.nic === '' || l.nic === b.nic) ? { ...l, nic: `${b.nic}-fuzz` } : undefined;
        },
      };
    case 'nic.<host>.<nic>.dma':
      return { listeners: [], sample: (rng) => ({ nic: b.nic!, write: rng.chance(0.5), addr: 4096 * rng.int(1 << 16), len: rng.range(1, 4096), tNs: t(rng) }) satisfies pcie.DmaRecord };
    case 'ioreq.<host>.<domid>': {
      const d = view.domains.get(b.host!)?.find((x) => x.domid === b.domid);
      const emulated = view.guests.some((g) => g.name === d?.name && g.arch === 'emulated');
      return {
        listeners: emulated ? [`${b.host}/dom0`] : [],
        sample: (rng) => ({ domid: b.domid!, device: 'nic0', reg: rng.pick(Object.values(E1000)), value: rng.int(4096), write: rng.chance(0.7), tNs: t(rng) }) satisfies pcie.IoReq,
        steer: (m, rng) => {
          // the guest's own driver writes these registers in range: the fuzzer writes past them
          const r = m as pcie.IoReq;
          if (!r.write || !E1000_WRITABLE.has(r.reg) || !validTime(r.tNs)) return undefined;
          return r.value < 2 ** 32 ? { ...r, value: 2 ** 32 + rng.int(1 << 30) } : undefined;
        },
      };
    }
    case 'nic.<host>.<nic>.iommu':
      return {
        listeners: [`${b.host}/${b.nic}`],
        sample: (rng) => ({ nic: b.nic!, queueSet: rng.int(qsOf().count), rootMfn: rng.int(view.frames.get(b.host!) ?? 1) }) satisfies pcie.IommuContext,
      };
    case 'nic.<host>.<nic>.fault':
      return {
        listeners: [`${b.host}/${b.nic}`],
        sample: (rng) => ({ nic: b.nic!, fail: rng.chance(0.5) }),
        // failing a NIC is the operator's fault injection: the fuzzer's failures name another NIC
        steer: (m) => {
          const f = m as { nic: string; fail: boolean };
          return f.fail && (f.nic === '' || f.nic === b.nic) ? { ...f, nic: `${b.nic}-fuzz` } : undefined;
        },
      };
    case 'fabric.fault':
      return {
        listeners: ['fabric'],
        sample: (rng) => ({ link: rng.pick(view.topo.links.flatMap((l) => [l.name, ...l.ends])), loss: rng.float(), cut: rng.chance(0.3) }) satisfies eth.LinkFault,
        // a link's loss in 0..1, or cutting it, is the operator's fault injection: the fuzzer's
        // losses are out of range and its cuts name links that do not exist
        steer: (m, rng) => {
          const f = m as eth.LinkFault;
          if (f.cut) return { ...f, link: `${f.link}-fuzz` };
          return f.loss >= 0 && f.loss <= 1 ? { ...f, loss: rng.pick([-1, 1.5, 2 ** 40, Number.NaN, Number.POSITIVE_INFINITY]) } : undefined;
        },
      };
    case 'dom0.<host>.redirect':
      return {
        listeners: [`${b.host}/dom0`],
        sample: (rng) => ({ fromHost: b.peer ?? rng.pick(view.topo.hosts).name, nic: nicName(rng), on: rng.chance(0.5), guests: [], tNs: t(rng) }) satisfies fault.RedirectControl,
        // taking over a real host's guests is its driver domain's own request: the fuzzer's come from hosts that do not exist
        steer: (m) => {
          const r = m as fault.RedirectControl;
          return view.topo.hosts.some((h) => h.name === r.fromHost) ? { ...r, fromHost: `${r.fromHost}-fuzz` } : undefined;
        },
      };
    case 'dom0.<host>.redirect.<peer>.frames':
      // no redirect is active while the fuzzer runs: every burst is one nobody carries (refused, counted)
      return {
        listeners: [`${b.host}/dom0`],
        sample: (rng) => ({ link: '', from: `${b.peer}/eth0`, frames: Array.from({ length: rng.range(1, 4) }, () => ({ data: sampleFrame(view, rng), tNs: t(rng) })) }) satisfies eth.FrameBurst,
      };
    case 'fault.<host>':
      return {
        listeners: [`${b.host}/hypervisor`],
        sample: (rng) => ({ host: b.host!, nic: nicName(rng), phase: rng.pick(['detected', 'held', 'redirected', 'restored']), reason: 'fuzz', targetHost: '', guests: [], tNs: t(rng), heldFrames: rng.int(100) }) satisfies fault.FaultReport,
        // a real NIC's failure is its driver domain's report: the fuzzer's name NICs that do not exist
        steer: (m) => {
          const r = m as fault.FaultReport;
          return r.host === b.host && hostOf(view, b.host!).nics.some((n) => n.name === r.nic) ? { ...r, nic: `${r.nic}-fuzz` } : undefined;
        },
      };
    case 'migration.<host>':
      // events for dashboards and operators: no service acts on them
      return { listeners: [], sample: (rng) => ({ domain: rng.pick(view.guests).name, sourceHost: b.host!, targetHost: rng.pick(view.topo.hosts).name, phase: rng.pick(['precopy', 'stop_and_copy', 'resumed']), round: rng.int(30), pages: rng.int(5000), bytes: rng.int(1 << 24), startNs: t(rng), endNs: t(rng), downtimeSeconds: rng.float(), detail: 'fuzz' }) satisfies migration.MigrationEvent };
    case 'protection.<host>':
      // switching protection off is the operator's right; the fuzzer switches it back on after
      return { listeners: [`${b.host}/hypervisor`, `${b.host}/dom0`], sample: (rng) => ({ on: rng.chance(0.5) }) satisfies protection.ProtectionSetting };
    case 'lab.events':
      return { listeners: [], sample: (rng) => ({ kind: 'fuzz', service: 'fuzz', msg: 'x'.repeat(rng.int(100)), tNs: t(rng) }) };
    case 'capture.<session>':
      return { listeners: [], sample: (rng) => ({ session: 'fuzz', point: rng.pick(view.guests).name, direction: 'tx', data: sampleFrame(view, rng), tNs: t(rng), service: 'fuzz' }) satisfies inspect.CapturedFrame };
    case 'trace.<session>':
      return { listeners: [], sample: (rng) => inspect.TraceHop.fromPartial({ session: 'fuzz', service: 'fuzz', host: b.host ?? '', component: 'nic', step: 'wire', tNs: t(rng), seq: rng.int(10) }) };
    default:
      throw new Error(`the fuzzer does not know subject ${pattern}: add it to nats_targets.ts`);
  }
}

/** Every concrete subject of the lab, for every catalogue entry. */
export function subjectTargets(view: LabView): SubjectTarget[] {
  const out = SUBJECT_CATALOGUE.flatMap((e) => instantiate(view, e));
  for (const e of SUBJECT_CATALOGUE) if (!out.some((t) => t.entry === e)) throw new Error(`no subject of ${e.pattern} in lab ${view.lab.name}`);
  return out;
}

/** Encodes a message for a subject (JSON for lab.events); throws if the codec cannot. */
export function encodeFor(target: { codec: Codec | undefined }, msg: unknown): Uint8Array {
  if (!target.codec) return Buffer.from(JSON.stringify(msg));
  return target.codec.encode(msg).finish();
}

/** Decodes a payload for steering; undefined when it is not a message of the subject. */
export function decodeFor(target: { codec: Codec | undefined }, data: Uint8Array): unknown | undefined {
  try {
    return target.codec ? target.codec.decode(data) : JSON.parse(Buffer.from(data).toString('utf8'));
  } catch {
    return undefined;
  }
}
