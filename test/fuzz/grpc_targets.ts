// Every gRPC method of every service of a lab: the generated service definitions, where each
// is served, a valid request for each method, and the steering that keeps a hostile request
// from being an operator's legitimate (and long, or lab-changing) command.
import * as proto from '@vnetlab/proto';
import { control, hypercall, inspect, migration, protection } from '@vnetlab/proto';
import { reachable, type LabService, type LabView } from './lab_view.js';
import type { Prng } from './prng.js';

/** One method of a generated service definition (grpc-js MethodDefinition). */
export interface MethodDef {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  requestSerialize(value: unknown): Buffer;
  requestDeserialize(bytes: Buffer): unknown;
  responseSerialize(value: unknown): Buffer;
  responseDeserialize(bytes: Buffer): unknown;
}
type ServiceDef = Record<string, MethodDef>;

export interface GrpcTarget {
  service: LabService;
  /** e.g. /vnetlab.hypercall.v1.Hypervisor/Hypercalls */
  path: string;
  def: MethodDef;
  sample(rng: Prng): unknown;
  /** A legitimate (long or lab-changing) request turned into a hostile one; undefined: as is. */
  steer?(req: unknown, rng: Prng): unknown | undefined;
  /** Call metadata (a domain credential for the hypercall stream). */
  metadata?(rng: Prng, req: unknown): Record<string, string>;
}

const asDefs = (x: unknown) => x as ServiceDef;

/** The services each kind serves (apps/*\/src: svc.addGrpc, and the runtime's Admin). */
export const SERVED: Record<string, ServiceDef[]> = {
  '*': [asDefs(control.AdminService)],
  hypervisor: [asDefs(hypercall.HypervisorService), asDefs(migration.MigrationService)],
  // GuestMigration: pv guests only (the others answer UNIMPLEMENTED)
  guest: [asDefs(control.GuestService), asDefs(protection.GuestAttackService), asDefs(inspect.ProbeService), asDefs(migration.GuestMigrationService)],
  'driver-domain': [asDefs(inspect.VswitchControlService)],
  controller: [asDefs(control.OperatorService), asDefs(inspect.InspectService), asDefs(protection.ProtectionService), ...optional('fault', 'FaultsService'), asDefs(migration.MigrationsService)],
};

/** A service definition that newer @vnetlab/proto builds have (fault injection). */
function optional(pkg: string, name: string): ServiceDef[] {
  const d = (proto as unknown as Record<string, Record<string, unknown> | undefined>)[pkg]?.[name];
  return d ? [asDefs(d)] : [];
}

/** Stops the lab by design: not fuzzed. */
export const EXCLUDED = new Set(['/vnetlab.control.v1.Operator/Shutdown']);

/** Every generated service definition of @vnetlab/proto (to check SERVED covers them all). */
export function allServiceDefinitions(): Array<{ name: string; def: ServiceDef }> {
  const mods = Object.entries(proto as unknown as Record<string, unknown>).filter((e): e is [string, Record<string, unknown>] => !!e[1] && typeof e[1] === 'object' && !Array.isArray(e[1]));
  return mods.flatMap(([pkg, m]) =>
    Object.entries(m)
      .filter(([k, v]) => k.endsWith('Service') && v && typeof v === 'object' && Object.values(v).every((x) => typeof x === 'object' && x !== null && 'path' in x))
      .map(([k, v]) => ({ name: `${pkg}.${k}`, def: v as ServiceDef })),
  );
}

const DOMAIN_TOKEN_HEADER = 'x-vnetlab-domain-token';
const CONTROL_TOKEN_HEADER = 'x-vnetlab-control-token';
const BIG = 2 ** 24;
const SAFE_TIME = (t: number) => Number.isFinite(t) && t >= 0 && t <= Number.MAX_SAFE_INTEGER;

/** Integer fields of a hypercall's arguments moved out of any table's range (not offsets and lengths). */
function outOfRange(v: unknown, rng: Prng): unknown {
  if (Array.isArray(v)) return v.map((x) => outOfRange(x, rng));
  if (v === null || typeof v !== 'object' || v instanceof Uint8Array) return v;
  return Object.fromEntries(
    Object.entries(v).map(([k, x]) => [k, typeof x === 'number' && k !== 'offset' && k !== 'len' && Number.isInteger(x) && x >= 0 && x < BIG ? BIG + rng.int(BIG) : outOfRange(x, rng)]),
  );
}

function models(view: LabView, s: LabService): Record<string, Omit<GrpcTarget, 'service' | 'path' | 'def'>> {
  const guests = view.guests;
  const guestNames = guests.map((g) => g.name);
  const hosts = view.topo.hosts.map((h) => h.name);
  // a guest's requests go to addresses it reaches (one it does not reach waits for ARP: slow, not hostile)
  const self = guests.find((g) => g.name === s.name);
  const reach = self ? (({ within, across }) => [...within, ...across])(reachable(view, self)).map((n) => guests.find((g) => g.name === n)!.ip) : [];
  const peerIp = (rng: Prng) => (reach.length ? rng.pick(reach) : rng.pick(guests).ip);
  const reachableDst = (dst: string, rng: Prng) => (/^\d+\.\d+\.\d+\.\d+$/.test(dst) && !reach.includes(dst) ? peerIp(rng) : dst);
  const doms = view.domains.get(s.host ?? '') ?? [];
  const creds = view.credentials.get(s.host ?? '');
  const labIps = new Set(guests.map((g) => g.ip));
  const labMacs = new Set(guests.map((g) => g.mac.toLowerCase()));
  const ATTACKS = ['spoof-mac', 'ring-overflow', 'cdna-rx-foreign', 'cdna-tx-foreign'];

  const hypercallOps: Array<(rng: Prng) => hypercall.HypercallRequest['op']> = [
    (r) => ({ $case: 'grantCopy', value: { ops: [{ source: { ref: { $case: 'gref', value: r.int(64) }, domid: r.pick(doms).domid, offset: r.int(4096) }, dest: { ref: { $case: 'gfn', value: r.int(64) }, domid: r.pick(doms).domid, offset: 0 }, len: r.int(1500) }] } }),
    (r) => ({ $case: 'grantMap', value: { granter: r.pick(doms).domid, gref: r.int(64), readonly: r.chance(0.5), deviceOnly: r.chance(0.5) } }),
    (r) => ({ $case: 'grantUnmap', value: { handle: r.int(64) } }),
    (r) => ({ $case: 'grantTransfer', value: { gfn: r.int(64), toDomid: r.pick(doms).domid, gref: r.int(64) } }),
    (r) => ({ $case: 'acceptTransfer', value: { gref: r.int(64), gfn: r.int(64) } }),
    (r) => ({ $case: 'populatePhysmap', value: { gfn: r.int(64) } }),
    (r) => ({ $case: 'evtchnAllocUnbound', value: { remoteDomid: r.pick(doms).domid } }),
    (r) => ({ $case: 'evtchnBindInterdomain', value: { remoteDomid: r.pick(doms).domid, remotePort: r.int(16) } }),
    (r) => ({ $case: 'evtchnSend', value: { port: r.int(16) } }),
    (r) => ({ $case: 'bindPirq', value: { irq: r.int(96) } }),
    (r) => ({ $case: 'grantMapBatch', value: { ops: [{ granter: r.pick(doms).domid, gref: r.int(64), readonly: false, deviceOnly: r.chance(0.5) }] } }),
    (r) => ({ $case: 'grantUnmapBatch', value: { handles: [r.int(64)] } }),
    (r) => ({ $case: 'cdnaEnqueue', value: { queueSet: r.int(64), rx: r.chance(0.5), buffers: [{ gfn: r.int(64), offset: 0, len: 1514, mfn: r.int(1 << 16), byMfn: r.chance(0.3) }] } }),
    (r) => ({ $case: 'cdnaComplete', value: { queueSet: r.int(64), rx: r.chance(0.5) } }),
  ];

  return {
    // ---- every service ----
    '/vnetlab.control.v1.Admin/Health': { sample: () => ({}) },
    '/vnetlab.control.v1.Admin/Ledger': { sample: () => ({}) },
    '/vnetlab.control.v1.Admin/Flows': { sample: () => ({}) },

    // ---- the hypervisor ----
    '/vnetlab.hypercall.v1.Hypervisor/Hypercalls': {
      sample: (rng) => ({ seq: rng.u32(), caller: rng.pick(doms).domid, tNs: rng.range(0, 5e9), pcpu: `cpu${rng.int(8)}`, op: rng.pick(hypercallOps)(rng) }) satisfies hypercall.HypercallRequest,
      // a domain's own hypercalls with in-range arguments change its own state: the fuzzer's go
      // past every table (grefs, gfns, ports, handles, domids, irqs, queue sets, mfns)
      steer: (req, rng) => {
        const r = req as hypercall.HypercallRequest;
        if (!r || !r.op) return undefined;
        // a soft reset has no argument to move: it is the domain's own reboot, which would close
        // its event channels (a garbled tag reaches it: 17 and 25 differ by one bit)
        if (r.op.$case === 'softReset') return { ...r, op: { $case: 'evtchnSend', value: { port: BIG + rng.int(BIG) } } };
        const op = { ...r.op, value: outOfRange(r.op.value, rng) } as hypercall.HypercallRequest['op'];
        return JSON.stringify(op) === JSON.stringify(r.op) ? undefined : { ...r, op };
      },
      metadata: (rng, req) => {
        if (!creds) return {};
        const caller = doms.find((d) => d.domid === (req as hypercall.HypercallRequest | undefined)?.caller)?.name;
        return rng.weighted<Record<string, string>>([
          [5, caller && creds[caller] ? { [DOMAIN_TOKEN_HEADER]: creds[caller] } : {}],
          [2, { [DOMAIN_TOKEN_HEADER]: rng.pick(Object.values(creds)) }],
          [1, { [DOMAIN_TOKEN_HEADER]: rng.bytes(16).toString('hex') }],
          [1, {}],
        ]);
      },
    },
    '/vnetlab.hypercall.v1.Hypervisor/CreateDomain': {
      sample: (rng) => ({ name: `fuzz-${rng.u32()}`, pages: rng.range(1, 64) }) satisfies hypercall.CreateDomainRequest,
      // creating a domain is the toolstack's: the fuzzer only asks for ones that must be refused
      steer: (req, rng) => {
        const r = req as hypercall.CreateDomainRequest;
        const fresh = r.name !== '' && !doms.some((d) => d.name === r.name);
        if (!fresh || !(r.pages >= 1 && r.pages <= 2 ** 20)) return undefined;
        return rng.weighted<hypercall.CreateDomainRequest>([
          [1, { ...r, name: '' }],
          [1, { ...r, name: rng.pick(doms).name }],
          [1, { ...r, pages: 0 }],
          [1, { ...r, pages: 0xffffffff }],
        ]);
      },
    },
    '/vnetlab.hypercall.v1.Hypervisor/GetDomain': { sample: (rng) => ({ domid: rng.pick(doms).domid, name: rng.chance(0.5) ? rng.pick(doms).name : '' }) },
    '/vnetlab.hypercall.v1.Hypervisor/ListDomains': { sample: () => ({}) },

    // ---- a guest ----
    '/vnetlab.control.v1.Guest/Ping': {
      sample: (rng) => ({ dst: peerIp(rng), count: 1, size: 56, intervalNs: 0, atNs: 0 }) satisfies control.GuestPingRequest,
      // an in-range ping is kept short (one small echo); out-of-range values must be refused
      steer: (req, rng) => {
        const r = { ...(req as control.GuestPingRequest) };
        r.dst = reachableDst(r.dst, rng);
        if (r.count <= 65535) r.count = Math.min(r.count, 1);
        if (r.size <= 65507) r.size = Math.min(r.size, 1000);
        if (SAFE_TIME(r.atNs)) r.atNs = 0;
        if (SAFE_TIME(r.intervalNs)) r.intervalNs = 0;
        return r;
      },
    },
    '/vnetlab.control.v1.Guest/BulkSend': {
      sample: (rng) => ({ dst: peerIp(rng), proto: rng.pick(['udp', 'tcp']), bytes: rng.range(1, 4000), msgSize: 1000, port: 0, atNs: 0 }) satisfies control.GuestBulkRequest,
      steer: (req, rng) => {
        const r = { ...(req as control.GuestBulkRequest) };
        if (r.bytes <= 2 ** 32) r.bytes = Math.min(r.bytes, 4000);
        // TCP recovers from the barrage's losses on retransmission timers (a wall-clock second
        // each): legitimate but slow, so the fuzzer's in-range streams are UDP
        if (r.proto === 'tcp') r.proto = 'udp';
        if (r.msgSize <= 65507) r.msgSize = Math.min(r.msgSize, 1472);
        if (SAFE_TIME(r.atNs)) r.atNs = 0;
        r.dst = reachableDst(r.dst, rng);
        return r;
      },
    },
    '/vnetlab.control.v1.Guest/FlowStats': { sample: () => ({}) },
    '/vnetlab.protection.v1.GuestAttack/Attack': {
      sample: (rng) => {
        const v = rng.pick(guests);
        return { kind: rng.pick([...ATTACKS, 'fuzz']), victimDomid: doms.length ? rng.pick(doms).domid : 0, victimMfns: [BIG + rng.int(BIG)], victimMac: v.mac, victimIp: v.ip, count: 0, atNs: 0 } satisfies protection.AttackRequest;
      },
      // the attacks themselves are demonstrations (ring-overflow shuts the attacker's own vif
      // down, a spoofed lab MAC moves a victim's traffic): kept to refusals and harmless names
      steer: (req, rng) => {
        const r = { ...(req as protection.AttackRequest) };
        if (r.kind === 'ring-overflow') r.kind = 'ring-overflow-fuzz';
        if (labMacs.has(r.victimMac.toLowerCase())) r.victimMac = `02:00:00:${rng.range(16, 255).toString(16)}:00:01`;
        if (labIps.has(r.victimIp)) r.victimIp = `203.0.113.${rng.range(1, 254)}`;
        r.victimMfns = r.victimMfns.slice(0, 100_000).map((m) => (m < BIG ? BIG + m : m));
        return r;
      },
    },
    '/vnetlab.protection.v1.GuestAttack/MemoryHash': { sample: () => ({}) },
    '/vnetlab.inspect.v1.Probe/Send': {
      sample: (rng) => ({ dst: peerIp(rng), proto: rng.pick(['icmp', 'udp', 'tcp']), ipId: rng.int(65536), atNs: 0 }) satisfies inspect.ProbeRequest,
      steer: (req, rng) => {
        const r = { ...(req as inspect.ProbeRequest) };
        if (SAFE_TIME(r.atNs)) r.atNs = 0;
        r.dst = reachableDst(r.dst, rng);
        return r;
      },
    },

    // ---- a driver domain's vswitch ----
    '/vnetlab.inspect.v1.VswitchControl/AddFlow': {
      sample: (rng) => ({ host: s.host ?? '', op: 'add', flow: `priority=${rng.int(100)},ip,actions=normal`, strict: false }),
      // a flow that parses would change the lab's switching: only flows that must be refused
      steer: (req, rng) => ({ ...(req as inspect.FlowsRequest), flow: `fuzz_field${rng.int(100)}=${(req as inspect.FlowsRequest).flow}` }),
    },
    '/vnetlab.inspect.v1.VswitchControl/DelFlows': {
      sample: (rng) => ({ host: s.host ?? '', op: 'del', flow: `priority=${rng.int(100)},ip`, strict: rng.chance(0.5) }),
      steer: (req, rng) => ({ ...(req as inspect.FlowsRequest), flow: `fuzz_field${rng.int(100)}=${(req as inspect.FlowsRequest).flow}` }),
    },
    '/vnetlab.inspect.v1.VswitchControl/DumpFlows': { sample: () => ({ host: s.host ?? '', op: 'dump', flow: '', strict: false }) },

    // ---- the controller ----
    '/vnetlab.control.v1.Operator/Status': { sample: () => ({}) },
    // a follow stream is the operator's to keep open: the fuzzer's end when the log is sent
    '/vnetlab.control.v1.Operator/Events': {
      sample: (rng) => ({ follow: false, sinceMs: rng.chance(0.5) ? 0 : Date.now() - rng.int(60_000) }) satisfies control.EventsRequest,
      steer: (req) => ((req as control.EventsRequest).follow ? { ...(req as control.EventsRequest), follow: false } : undefined),
    },
    '/vnetlab.control.v1.Operator/Ping': {
      sample: (rng) => ({ src: rng.pick(guestNames), dst: rng.pick(guestNames), count: 1, size: 56 }) satisfies control.PingRequest,
      steer: (req) => {
        const r = { ...(req as control.PingRequest) };
        if (r.count <= 65535) r.count = 1;
        if (r.size <= 65507) r.size = Math.min(r.size, 1000);
        return r;
      },
    },
    '/vnetlab.control.v1.Operator/Bulk': {
      sample: (rng) => ({ src: rng.pick(guestNames), dst: rng.pick(guestNames), proto: 'udp', bytes: 1000, msgSize: 1000 }) satisfies control.BulkRequest,
      // a bulk between two guests gathers every service's ledger: asked of names that do not exist
      steer: (req) => {
        const r = req as control.BulkRequest;
        return guestNames.includes(r.src) ? { ...r, src: `${r.src}-fuzz` } : undefined;
      },
    },
    '/vnetlab.control.v1.Operator/Traffic': {
      sample: (rng) => ({ pairs: [{ src: rng.pick(guestNames), dst: rng.pick(guestNames) }], proto: 'udp', bytes: 1000, msgSize: 1000 }) satisfies control.TrafficRequest,
      steer: (req) => {
        const r = req as control.TrafficRequest;
        if (r.pairs.length === 0 || !r.pairs.every((p) => guestNames.includes(p.src) && guestNames.includes(p.dst))) return undefined;
        return { ...r, pairs: r.pairs.map((p, i) => (i === 0 ? { ...p, src: `${p.src}-fuzz` } : p)) };
      },
    },
    '/vnetlab.inspect.v1.Inspect/Flows': {
      sample: (rng) => ({ host: rng.pick(hosts), op: rng.pick(['add', 'del', 'dump']), flow: `priority=${rng.int(100)},actions=drop`, strict: false }) satisfies inspect.FlowsRequest,
      steer: (req) => {
        const r = req as inspect.FlowsRequest;
        return hosts.includes(r.host) && (r.op === 'add' || r.op === 'del') ? { ...r, host: `${r.host}-fuzz` } : undefined;
      },
    },
    '/vnetlab.inspect.v1.Inspect/Capture': {
      sample: (rng) => ({ point: rng.pick([...guestNames, ...view.topo.links.map((l) => l.name)]), count: rng.int(4), timeoutS: 0.2 }) satisfies inspect.CaptureRequest,
      // a capture for a sane time (0: the default 10 s) is a legitimate, long command: kept
      // short; negative, NaN, infinite and over-long timeouts must be refused
      steer: (req) => {
        const r = req as inspect.CaptureRequest;
        return r.timeoutS >= 0 && r.timeoutS <= 3600 && r.timeoutS !== 0.2 ? { ...r, timeoutS: 0.2 } : undefined;
      },
    },
    '/vnetlab.inspect.v1.Inspect/Trace': {
      sample: (rng) => ({ src: rng.pick(guestNames), dst: rng.pick(guestNames), proto: rng.pick(['icmp', 'udp', 'tcp']), timeoutS: 1 }) satisfies inspect.TraceRequest,
      steer: (req) => {
        const r = req as inspect.TraceRequest;
        return guestNames.includes(r.src) ? { ...r, src: `${r.src}-fuzz` } : undefined;
      },
    },
    '/vnetlab.protection.v1.Protection/Attack': {
      sample: (rng) => ({ kind: rng.pick([...ATTACKS, 'fuzz']), attacker: rng.pick(guestNames), victim: rng.pick(guestNames) }) satisfies protection.OperatorAttackRequest,
      steer: (req) => {
        const r = req as protection.OperatorAttackRequest;
        return ATTACKS.includes(r.kind) ? { ...r, kind: `${r.kind}-fuzz` } : undefined;
      },
    },
    '/vnetlab.fault.v1.Faults/SetNic': {
      sample: (rng) => {
        const h = rng.pick(view.topo.hosts);
        return { host: h.name, nic: rng.pick(h.nics).name, fail: rng.chance(0.5) };
      },
      // failing a real NIC is the operator's fault injection: the fuzzer's name NICs that do not exist
      steer: (req) => {
        const r = req as { host: string; nic: string; fail: boolean };
        const real = view.topo.hosts.some((h) => h.name === r.host && h.nics.some((n) => n.name === r.nic));
        return real && r.fail ? { ...r, nic: `${r.nic}-fuzz` } : undefined;
      },
    },
    '/vnetlab.fault.v1.Faults/SetLink': {
      sample: (rng) => ({ link: rng.pick(view.topo.links.flatMap((l) => [l.name, ...l.ends])), cut: rng.chance(0.5) }),
      // cutting a real link is the operator's fault injection: the fuzzer's cuts name links that do not exist
      steer: (req) => {
        const r = req as { link: string; cut: boolean };
        const real = view.topo.links.some((l) => l.name === r.link || l.ends.includes(r.link));
        return real && r.cut ? { ...r, link: `${r.link}-fuzz` } : undefined;
      },
    },
    '/vnetlab.fault.v1.Faults/Evacuations': { sample: () => ({}) },
    '/vnetlab.fault.v1.Faults/Restart': {
      sample: (rng) => ({ service: rng.pick(view.lab.services).name }),
      // restarting a real service is the operator's right: the fuzzer's name services that do not exist
      steer: (req) => {
        const r = req as { service: string };
        return view.lab.services.some((s) => s.name === r.service) ? { ...r, service: `${r.service}-fuzz` } : undefined;
      },
    },
    // ---- live migration: a real one moves a guest; the fuzzer's name domains that do not exist ----
    '/vnetlab.migration.v1.Migration/PreCopy': {
      sample: (rng) => ({ domain: rng.pick(doms).name, targetHost: rng.pick(hosts), targetAddr: '127.0.0.1:1', bandwidthBps: 1e9, maxRounds: 1, startNs: 0, domainToken: '' }) satisfies migration.PreCopyRequest,
      steer: (req) => {
        const r = req as migration.PreCopyRequest;
        return doms.some((d) => d.name === r.domain) ? { ...r, domain: `${r.domain}-fuzz` } : undefined;
      },
    },
    '/vnetlab.migration.v1.Migration/StopAndCopy': { sample: (rng) => ({ domain: rng.pick(doms).name, suspendedNs: rng.range(0, 5e9) }) satisfies migration.StopAndCopyRequest },
    '/vnetlab.migration.v1.Migration/Release': { sample: (rng) => ({ domain: rng.pick(doms).name, resumedNs: rng.range(0, 5e9) }) satisfies migration.ReleaseRequest },
    '/vnetlab.migration.v1.Migration/Abort': { sample: (rng) => ({ domain: rng.pick(doms).name, reason: 'fuzz' }) satisfies migration.AbortRequest },
    '/vnetlab.migration.v1.Migration/Prepare': {
      sample: (rng) => ({ name: `fuzz-${rng.u32()}`, pages: rng.range(1, 64), domainToken: '', sourceHost: rng.pick(hosts) }) satisfies migration.PrepareRequest,
      // preparing a domain is a migration's: the fuzzer only asks for ones that must be refused
      steer: (req, rng) => {
        const r = req as migration.PrepareRequest;
        const fresh = r.name !== '' && !doms.some((d) => d.name === r.name);
        if (!fresh || !(r.pages >= 1 && r.pages <= 2 ** 20)) return undefined;
        return rng.weighted<migration.PrepareRequest>([[1, { ...r, name: '' }], [1, { ...r, name: rng.pick(doms).name }], [1, { ...r, pages: 0 }], [1, { ...r, pages: 0xffffffff }]]);
      },
    },
    '/vnetlab.migration.v1.Migration/PutPages': { sample: (rng) => ({ domid: rng.pick(doms).domid, gfns: [rng.int(64)], data: [rng.bytes(rng.chance(0.5) ? 4096 : rng.int(64))] }) satisfies migration.PageBatch },
    '/vnetlab.migration.v1.Migration/Commit': { sample: (rng) => ({ domid: rng.pick(doms).domid }) satisfies migration.CommitRequest },
    '/vnetlab.migration.v1.Migration/Discard': { sample: (rng) => ({ domid: rng.pick(doms).domid }) satisfies migration.DiscardRequest },
    // a guest resumes only after the toolstack suspended it for a migration: refused otherwise
    '/vnetlab.migration.v1.GuestMigration/Resume': { sample: (rng) => ({ host: rng.pick(hosts), hypervisorAddr: '127.0.0.1:1', domainToken: '', atNs: rng.range(0, 5e9) }) satisfies migration.ResumeRequest },
    '/vnetlab.migration.v1.Migrations/Migrate': {
      sample: (rng) => ({ guest: rng.pick(guestNames), to: rng.pick(hosts), bandwidthBps: 0, maxRounds: 1 }) satisfies migration.MigrateRequest,
      steer: (req) => {
        const r = req as migration.MigrateRequest;
        return guestNames.includes(r.guest) ? { ...r, guest: `${r.guest}-fuzz` } : undefined;
      },
    },
    '/vnetlab.protection.v1.Protection/SetProtection': {
      // off is the operator's right; the fuzzer switches every host back on after the barrage
      sample: (rng) => ({ host: rng.pick(hosts), on: rng.chance(0.5) }) satisfies protection.SetProtectionRequest,
    },
  };
}

/** A credential under `header`, mostly the right one; sometimes another or none, which must be refused. */
function mostlyRight(header: string, token: string | undefined): NonNullable<GrpcTarget['metadata']> {
  return (rng) => (token ? rng.weighted<Record<string, string>>([[8, { [header]: token }], [1, { [header]: rng.bytes(token.length / 2).toString('hex') }], [1, {}]]) : {});
}

/** The operator API's credential (the lab's), or a service's control token (its own), beside what the method's model sends. */
function credentials(view: LabView, s: LabService, model: GrpcTarget['metadata']): GrpcTarget['metadata'] {
  const own = s === view.controller ? mostlyRight('x-vnetlab-operator-token', view.lab.operatorToken) : mostlyRight(CONTROL_TOKEN_HEADER, s.controlToken);
  return (rng, req) => ({ ...own(rng, req), ...(model?.(rng, req) ?? {}) });
}

/** Every (service, method) of the lab, with its request model. */
export function grpcTargets(view: LabView): GrpcTarget[] {
  const out: GrpcTarget[] = [];
  const services = [...view.lab.services, view.controller];
  for (const s of services) {
    const ms = models(view, s);
    for (const def of [...SERVED['*']!, ...(SERVED[s.kind] ?? [])]) {
      for (const m of Object.values(def)) {
        if (EXCLUDED.has(m.path)) continue;
        const model = ms[m.path];
        if (!model) throw new Error(`the fuzzer has no request model for ${m.path}: add it to grpc_targets.ts`);
        out.push({ service: s, path: m.path, def: m, ...model, metadata: credentials(view, s, model.metadata) });
      }
    }
  }
  return out;
}
