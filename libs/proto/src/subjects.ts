// The NATS subjects of the lab: one builder per subject, and the catalogue that says which
// modelled signal each one stands for, what it carries, and who sends and who listens.
// docs/subjects.md is generated from SUBJECT_CATALOGUE (npm run docs -w @vnetlab/proto).

/** A host, NIC or other name that cannot be one token of a NATS subject. */
export class SubjectError extends Error {
  constructor(
    readonly reason: 'empty' | 'bad_token',
    readonly token: string,
  ) {
    super(
      reason === 'empty'
        ? 'subject token is empty'
        : `subject token ${JSON.stringify(token)} may not contain '.', '*', '>' or whitespace`,
    );
    this.name = 'SubjectError';
  }
}

// A token becomes one level of a subject: a dot would silently add a level and a wildcard
// would subscribe to other components' signals, so both are refused.
function token(value: string | number): string {
  const s = String(value);
  if (s.length === 0) throw new SubjectError('empty', s);
  if (/[.*>\s]/.test(s)) throw new SubjectError('bad_token', s);
  return s;
}

/** Wildcard for "any value" in one level, for subscribers that listen to all of a kind. */
export const ANY = '*';

function tokenOrAny(value: string | number): string {
  return value === ANY ? ANY : token(value);
}

/** Builders of every NATS subject. Pass ANY for a level to build a subscription pattern. */
export const subjects = {
  /** Virtual interrupt: event-channel upcalls into domain `domid` (EventBatch). */
  evtchn: (host: string, domid: number | typeof ANY): string => `evtchn.${token(host)}.${tokenOrAny(domid)}`,
  /** Physical interrupt: a NIC's MSI to the hypervisor of its host (Interrupt). */
  pirq: (host: string): string => `pirq.${token(host)}`,
  /** MMIO write of a ring tail register of a NIC (Doorbell). */
  nicDoorbell: (host: string, nic: string): string => `nic.${token(host)}.${tokenOrAny(nic)}.doorbell`,
  /** Queue-set configuration written to a NIC (QueueSetConfig). */
  nicConfig: (host: string, nic: string): string => `nic.${token(host)}.${tokenOrAny(nic)}.config`,
  /** Frames arriving at a NIC's port from its link (FrameBurst). */
  nicRx: (host: string, nic: string): string => `nic.${token(host)}.${tokenOrAny(nic)}.rx`,
  /** A NIC's link went up or down (LinkState). */
  nicLink: (host: string, nic: string): string => `nic.${token(host)}.${tokenOrAny(nic)}.link`,
  /** DMA transfers a NIC performed, for traces and captures (DmaRecord). */
  nicDma: (host: string, nic: string): string => `nic.${token(host)}.${tokenOrAny(nic)}.dma`,
  /** A guest's trapped access to an emulated device register, to the device model (IoReq). */
  ioreq: (host: string, domid: number | typeof ANY): string => `ioreq.${token(host)}.${tokenOrAny(domid)}`,
  /** The operator fails or repairs a NIC (NicFault). */
  nicFault: (host: string, nic: string): string => `nic.${token(host)}.${tokenOrAny(nic)}.fault`,
  /** The operator changes a link's loss (LinkFault). */
  linkFault: (): string => 'fabric.fault',
  /** The operator turns a host's protection on or off (ProtectionSetting). */
  protection: (host: string): string => `protection.${token(host)}`,
  /** The hypervisor programs a queue set's IOMMU context (IommuContext, request/reply). */
  nicIommu: (host: string, nic: string): string => `nic.${token(host)}.${tokenOrAny(nic)}.iommu`,
  /** Frames leaving a NIC onto its link, to the fabric (FrameBurst). */
  fabricTx: (host: string | typeof ANY, nic: string): string => `fabric.${tokenOrAny(host)}.${tokenOrAny(nic)}.tx`,
  /** Operator-visible events of the whole lab (JSON LabEvent). */
  labEvents: (): string => 'lab.events',
  /** A driver domain whose NIC failed asks `host`'s driver domain to be its temporary backend (RedirectControl, request/reply). */
  redirect: (host: string): string => `dom0.${token(host)}.redirect`,
  /** Frames redirected between two hosts' driver domains: to `to`, from `from` (FrameBurst). */
  redirectFrames: (to: string | typeof ANY, from: string | typeof ANY): string => `dom0.${tokenOrAny(to)}.redirect.${tokenOrAny(from)}.frames`,
  /** A phase of a NIC failure on `host`, as its driver domain's fault agent reports it (FaultReport). */
  fault: (host: string | typeof ANY): string => `fault.${tokenOrAny(host)}`,
  /** A phase of a live migration from or to `host` (MigrationEvent). */
  migration: (host: string | typeof ANY): string => `migration.${tokenOrAny(host)}`,
  /** Copies of frames at a capture point, only while capture session `session` is active (CapturedFrame). */
  capture: (session: string): string => `capture.${tokenOrAny(session)}`,
  /** Steps of a traced frame, reported by every component it passes (TraceHop). */
  trace: (session: string): string => `trace.${tokenOrAny(session)}`,
} as const;

/** An operator-visible event on `lab.events` (JSON, one object per message). */
export interface LabEvent {
  /** What happened, e.g. 'service-ready', 'nic-failed', 'migration-done', 'violation'. */
  kind: string;
  /** Service that saw it. */
  service: string;
  /** Modelled host, when it concerns one. */
  host?: string;
  /** Modelled time of the event (ns), when it has one. */
  tNs?: number;
  /** One line for a person. */
  msg: string;
  /** Anything else worth keeping (domid, nic, reason...). */
  [field: string]: unknown;
}

/** One entry of the subject catalogue. */
export interface SubjectEntry {
  /** Subject with <placeholders> for its variable levels. */
  pattern: string;
  /** Fully qualified protobuf message carried, or the JSON shape when encoding is 'json'. */
  payload: string;
  /** How the payload is encoded. */
  encoding: 'protobuf' | 'json';
  /** The modelled hardware or software signal the message stands for. */
  signal: string;
  /** Service kind(s) that publish it. */
  publisher: string;
  /** Service kind(s) that subscribe to it. */
  subscriber: string;
}

export const SUBJECT_CATALOGUE: readonly SubjectEntry[] = [
  {
    pattern: 'evtchn.<host>.<domid>',
    payload: 'vnetlab.netif.v1.EventBatch',
    encoding: 'protobuf',
    signal: 'virtual interrupt: event-channel upcall into a domain (EVTCHNOP_send, or a bound pirq)',
    publisher: 'hypervisor',
    subscriber: 'the domain: guest (netfront, or its own queue driver in cdna/passthrough), driver-domain for domid 0',
  },
  {
    pattern: 'pirq.<host>',
    payload: 'vnetlab.pcie.v1.Interrupt',
    encoding: 'protobuf',
    signal: "physical interrupt: a NIC's MSI (with the CDNA bit vector) to the hypervisor",
    publisher: 'nic',
    subscriber: 'hypervisor (routes it to the event channel bound with BindPirq)',
  },
  {
    pattern: 'nic.<host>.<nic>.doorbell',
    payload: 'vnetlab.pcie.v1.Doorbell',
    encoding: 'protobuf',
    signal: "MMIO write of a TX/RX ring's tail register",
    publisher: 'NIC driver: driver-domain, or the owning guest (cdna/passthrough)',
    subscriber: 'nic',
  },
  {
    pattern: 'nic.<host>.<nic>.config',
    payload: 'vnetlab.pcie.v1.QueueSetConfig',
    encoding: 'protobuf',
    signal: 'configuration writes of a queue set: ring base addresses, size, MAC filter, owner',
    publisher: 'driver-domain (NIC driver)',
    subscriber: 'nic',
  },
  {
    pattern: 'nic.<host>.<nic>.rx',
    payload: 'vnetlab.eth.v1.FrameBurst',
    encoding: 'protobuf',
    signal: "frames arriving at a NIC's port from the wire",
    publisher: 'fabric',
    subscriber: 'nic',
  },
  {
    pattern: 'fabric.<host>.<nic>.tx',
    payload: 'vnetlab.eth.v1.FrameBurst',
    encoding: 'protobuf',
    signal: 'frames leaving a NIC onto its link',
    publisher: 'nic',
    subscriber: 'fabric',
  },
  {
    pattern: 'nic.<host>.<nic>.link',
    payload: 'vnetlab.pcie.v1.LinkState',
    encoding: 'protobuf',
    signal: "a NIC's link (carrier) went up or down",
    publisher: 'nic',
    subscriber: 'driver-domain (fault agent), controller',
  },
  {
    pattern: 'nic.<host>.<nic>.dma',
    payload: 'vnetlab.pcie.v1.DmaRecord',
    encoding: 'protobuf',
    signal: 'a DMA transfer by the NIC through the IOMMU (for traces)',
    publisher: 'nic',
    subscriber: 'controller (trace, capture)',
  },
  {
    pattern: 'ioreq.<host>.<domid>',
    payload: 'vnetlab.pcie.v1.IoReq',
    encoding: 'protobuf',
    signal: 'a trapped access to an emulated device register, forwarded to the device model (ioreq)',
    publisher: 'guest (through the hypervisor trap)',
    subscriber: 'driver-domain (device model)',
  },
  {
    pattern: 'nic.<host>.<nic>.fault',
    payload: 'vnetlab.pcie.v1.NicFault',
    encoding: 'protobuf',
    signal: 'fault injection: the operator fails (link down) or repairs a NIC',
    publisher: 'controller',
    subscriber: 'nic',
  },
  {
    pattern: 'fabric.fault',
    payload: 'vnetlab.eth.v1.LinkFault',
    encoding: 'protobuf',
    signal: 'fault injection: the operator changes a link\'s loss',
    publisher: 'controller',
    subscriber: 'fabric',
  },
  {
    pattern: 'protection.<host>',
    payload: 'vnetlab.protection.v1.ProtectionSetting',
    encoding: 'protobuf',
    signal: 'the operator switching a host\'s protection checks on or off (a demonstration of why they exist)',
    publisher: 'controller',
    subscriber: 'hypervisor, driver-domain, nic',
  },
  {
    pattern: 'nic.<host>.<nic>.iommu',
    payload: 'vnetlab.pcie.v1.IommuContext',
    encoding: 'protobuf',
    signal: 'the hypervisor programming the IOMMU context of a queue set (VT-d context entry)',
    publisher: 'hypervisor',
    subscriber: 'nic',
  },
  {
    pattern: 'migration.<host>',
    payload: 'vnetlab.migration.v1.MigrationEvent',
    encoding: 'protobuf',
    signal: 'a phase of a live migration (bandwidth reserved, target prepared, pre-copy round N with its pages, stop-and-copy, resumed, released, done, aborted) with its modelled times',
    publisher: 'hypervisor (source and target), controller (reserved, resumed, done)',
    subscriber: 'controller (its event log: vnetlab events)',
  },
  {
    pattern: 'dom0.<host>.redirect',
    payload: 'vnetlab.fault.v1.RedirectControl',
    encoding: 'protobuf',
    signal: 'request/reply: a driver domain whose NIC failed asks another host\'s to act as its temporary backend (on), or releases it (off); RedirectReply',
    publisher: 'driver-domain (fault agent of the failed host)',
    subscriber: 'driver-domain (the target host)',
  },
  {
    pattern: 'dom0.<host>.redirect.<peer>.frames',
    payload: 'vnetlab.eth.v1.FrameBurst',
    encoding: 'protobuf',
    signal: 'frames redirected over the network between two driver domains while a NIC is down (both ways): to <host>, from <peer>',
    publisher: 'driver-domain',
    subscriber: 'driver-domain',
  },
  {
    pattern: 'fault.<host>',
    payload: 'vnetlab.fault.v1.FaultReport',
    encoding: 'protobuf',
    signal: 'a phase of a NIC failure: detected (link down or heartbeats missed), held, redirected, restored, with modelled time and the guests concerned',
    publisher: 'driver-domain (fault agent)',
    subscriber: 'hypervisor (records it), controller (migrates the guests away, unless vnetlab up --no-auto-migrate)',
  },
  {
    pattern: 'lab.events',
    payload: 'LabEvent',
    encoding: 'json',
    signal: 'operator-visible events: services ready, faults, migrations, refused operations',
    publisher: 'any service',
    subscriber: 'controller (its event log: vnetlab events)',
  },
  {
    pattern: 'capture.<session>',
    payload: 'vnetlab.inspect.v1.CapturedFrame',
    encoding: 'protobuf',
    signal: 'a copy of a frame at a capture point (guest interface, NIC port, link, a port of a driver domain\'s switch), sent only while a capture of that point is active (KV bucket vnetlab-taps)',
    publisher: 'guest, driver-domain, nic, fabric',
    subscriber: 'controller (vnetlab capture)',
  },
  {
    pattern: 'trace.<session>',
    payload: 'vnetlab.inspect.v1.TraceHop',
    encoding: 'protobuf',
    signal: 'one step of a traced frame (the probe whose IPv4 identification the trace names) with its modelled time and cost',
    publisher: 'guest, driver-domain, nic, fabric',
    subscriber: 'controller (vnetlab trace)',
  },
];

/** Turns a catalogue pattern into a subscription matching every subject of that kind. */
export function wildcard(pattern: string): string {
  return pattern.replace(/<[^>]+>/g, ANY);
}
