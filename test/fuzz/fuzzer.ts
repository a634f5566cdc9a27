// The fuzzer: throws malformed and hostile messages at every NATS subject and every gRPC method
// of a running lab, then checks that every service survived, counted the garbage, and that the
// lab still moves traffic. Seeded: the seed is printed, and the same seed sends the same
// sequence (the replayed captures aside, which come from the lab's own traffic).
import { appendFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { badMessages, diagnosePing, domainCounts, health, metricSnapshot, moved, ping, pingDetail, pingPairs, protectionOn, udpBulk, alive, type PingPair } from './lab_checks.js';
import { discoverLab, type LabView } from './lab_view.js';
import { bitflip, mutateMessage, oversized, randomBytes, truncate, type HostilePools } from './mutate.js';
import { decodeFor, encodeFor, subjectTargets, type SubjectTarget } from './nats_targets.js';
import { grpcTargets, type GrpcTarget, type MethodDef } from './grpc_targets.js';
import { newSeed, Prng } from './prng.js';
import { GRPC_INVALID_ARGUMENT, GRPC_MALFORMED, GRPC_OVERSIZED } from '@vnetlab/runtime';

export type Mutation = 'random' | 'truncated' | 'bitflip' | 'oversized' | 'hostile' | 'replay';
const GARBAGE: ReadonlySet<Mutation> = new Set(['random', 'truncated', 'bitflip', 'oversized']);

export interface FuzzOptions {
  iterations: number;
  seed?: number;
  /** Called with a one-line summary every `progressEvery` iterations. */
  onProgress?: (line: string) => void;
  progressEvery?: number;
  /** Deadline of every gRPC call; a call that reaches it is reported (a handler that hangs). */
  grpcDeadlineMs?: number;
  /** gRPC calls in flight at once. */
  concurrency?: number;
  log?: (line: string) => void;
  /** Only the subjects and '<service> <method path>'s this matches (to narrow a failure down). */
  only?: RegExp;
}

interface Sent {
  i: number;
  to: string;
  kind: Mutation;
  bytes: number;
  steered: boolean;
  note?: string;
}

export interface FuzzReport {
  seed: number;
  iterations: number;
  elapsedMs: number;
  subjects: number;
  methods: number;
  nats: { sent: number; steered: number; refusedByClient: number; byKind: Record<string, number> };
  grpc: {
    calls: number;
    steered: number;
    notEncodable: number;
    byKind: Record<string, number>;
    byStatus: Record<string, number>;
    odd: Record<string, Record<string, number>>;
    /** Requests of bytes that do not decode (within gRPC's size limit), sent to each service. */
    garbageTo: Record<string, number>;
    /** Calls each service answered "Error deserializing request" (grpc-js, before any handler). */
    undecodedBy: Record<string, number>;
    /** vnetlab_bad_messages_total{reason="grpc_malformed"} growth per service. */
    malformedGrowth: Record<string, number>;
    /** Calls each service answered INVALID_ARGUMENT (a request that decodes, with values its handler refuses). */
    invalidBy: Record<string, number>;
    /** vnetlab_bad_messages_total{reason="grpc_invalid_argument"} growth per service. */
    invalidGrowth: Record<string, number>;
  };
  /** Garbage messages sent to the subjects each service listens on. */
  garbageTo: Record<string, number>;
  /** vnetlab_bad_messages_total growth per service. */
  badMessagesGrowth: Record<string, number>;
  /** gRPC calls that hit their deadline, by method (first few requests kept). */
  hung: Array<{ i: number; path: string; service: string; kind: Mutation; request: string }>;
  /** Everything that says the lab did not survive; empty when it did. */
  problems: string[];
  checks: string[];
}

/** Statuses that say something other than "refused": worth a look in the report. */
const ODD = new Set(['RESOURCE_EXHAUSTED', 'UNAVAILABLE', 'UNKNOWN', 'CANCELLED', 'DEADLINE_EXCEEDED', 'DATA_LOSS']);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const identity = (b: Buffer) => b;

/** A printable summary of a request (long strings and arrays shortened). */
function summary(v: unknown): string {
  const s = JSON.stringify(v, (_k, x: unknown) => {
    if (typeof x === 'number' && !Number.isFinite(x)) return String(x);
    if (typeof x === 'string' && x.length > 40) return `${x.slice(0, 20)}…(${x.length} chars)`;
    if (x instanceof Uint8Array || (x && typeof x === 'object' && (x as { type?: string }).type === 'Buffer')) return `<${(x as Uint8Array).length ?? '?'} bytes>`;
    if (Array.isArray(x) && x.length > 4) return [...x.slice(0, 3), `…(${x.length} items)`];
    return x;
  });
  return s && s.length > 400 ? s.slice(0, 400) + '…' : s ?? String(v);
}

/** A call's outcome: the name of its status code and its details. */
interface Answer {
  status: string;
  details: string;
}
const answer = (code: grpc.status, details: string | undefined): Answer => ({ status: grpc.status[code] ?? String(code), details: details ?? '' });
/** What grpc-js answers when a method's request decoder throws. */
const UNDECODED = 'Error deserializing request';

/** A streaming call's outcome, whichever of error or status comes first; responses are read and dropped. */
function statusOf(call: grpc.ClientReadableStream<unknown> | grpc.ClientDuplexStream<unknown, unknown>): Promise<Answer> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (a: Answer) => {
      if (!done) {
        done = true;
        resolve(a);
      }
    };
    call.on('data', () => undefined);
    call.on('error', (e: grpc.ServiceError) => finish(answer(e.code, e.details)));
    call.on('status', (s: grpc.StatusObject) => finish(answer(s.code, s.details)));
  });
}

/** gRPC clients of one method each: raw (identity serializers, bytes go as they are) or typed. */
class GrpcClients {
  private readonly clients = new Map<string, grpc.Client>();

  /** `own`: connections of their own, not shared with the other clients of the process. */
  constructor(private readonly own = false) {}

  private forPath(t: GrpcTarget, raw: boolean): Record<string, (...a: unknown[]) => unknown> {
    const k = `${raw ? 'raw' : 'typed'}|${t.service.grpcAddr}|${t.path}`;
    let c = this.clients.get(k);
    if (!c) {
      const m: MethodDef = raw ? { ...t.def, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity } : t.def;
      const Ctor = grpc.makeGenericClientConstructor({ call: m } as unknown as grpc.ServiceDefinition, 'Fuzz');
      c = new Ctor(t.service.grpcAddr, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': 8 << 20, 'grpc.max_receive_message_length': 8 << 20, ...(this.own ? { 'grpc.use_local_subchannel_pool': 1 } : {}) });
      this.clients.set(k, c);
    }
    return c as unknown as Record<string, (...a: unknown[]) => unknown>;
  }

  /** A unary call. */
  unary(t: GrpcTarget, req: unknown, raw: boolean, md: grpc.Metadata, deadlineMs: number): Promise<Answer> {
    const c = this.forPath(t, raw);
    return new Promise((resolve) => {
      c.call!(req, md, { deadline: Date.now() + deadlineMs }, (err: grpc.ServiceError | null) => resolve(err ? answer(err.code, err.details) : answer(grpc.status.OK, '')));
    });
  }

  /** One request, a stream of responses (a migration's progress): reads them all, waits for the status. */
  serverStream(t: GrpcTarget, req: unknown, raw: boolean, md: grpc.Metadata, deadlineMs: number): Promise<Answer> {
    return statusOf(this.forPath(t, raw).call!(req, md, { deadline: Date.now() + deadlineMs }) as grpc.ClientReadableStream<unknown>);
  }

  /** A bidi stream: writes every request, ends, waits for the status. */
  stream(t: GrpcTarget, reqs: unknown[], raw: boolean, md: grpc.Metadata, deadlineMs: number): Promise<Answer> {
    const call = this.forPath(t, raw).call!(md, { deadline: Date.now() + deadlineMs }) as grpc.ClientDuplexStream<unknown, unknown>;
    const status = statusOf(call);
    for (const r of reqs) call.write(r);
    call.end();
    return status;
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
  }
}

/** Messages the lab's own traffic carries, by subject, captured during pings. */
async function captureTraffic(view: LabView, nc: NatsConnection, pairs: PingPair[]): Promise<Map<string, Uint8Array[]>> {
  const got = new Map<string, Uint8Array[]>();
  const sub = nc.subscribe('>', {
    callback: (err, m) => {
      if (err || m.subject.startsWith('_INBOX') || m.subject.startsWith('$')) return;
      const list = got.get(m.subject) ?? [];
      if (list.length < 64) list.push(new Uint8Array(m.data));
      got.set(m.subject, list);
    },
  });
  const within = pairs.find((p) => !p.across);
  const across = pairs.find((p) => p.across);
  await Promise.all([within, across].filter((p): p is PingPair => !!p).map((p) => ping(view, p, 2)));
  await sleep(300);
  sub.unsubscribe();
  return got;
}

export interface Barrage {
  view: LabView;
  pairs: PingPair[];
}

/** Discovers the lab and checks it works before anything is thrown at it. */
export async function prepare(dir: string, log: (l: string) => void = () => undefined): Promise<Barrage & { problems: string[] }> {
  const view = await discoverLab(dir);
  const problems: string[] = (await health(view)).map((h) => `before the barrage: ${h.service}: ${h.problem}`);
  const pairs: PingPair[] = [];
  for (const p of pingPairs(view)) {
    if ((await ping(view, p, 1)) === 1) pairs.push(p);
    else log(`baseline: ${p.src} → ${p.dst} does not answer before the barrage; not checked after it`);
  }
  if (!pairs.some((p) => p.across)) problems.push('before the barrage: no ping across hosts answers');
  if (!pairs.some((p) => !p.across)) problems.push('before the barrage: no ping within a host answers');
  return { view, pairs, problems };
}

export async function runFuzz(dir: string, opts: FuzzOptions): Promise<FuzzReport> {
  const log = opts.log ?? (() => undefined);
  const seed = opts.seed ?? newSeed();
  const rng = new Prng(seed);
  const t0 = Date.now();
  const deadlineMs = opts.grpcDeadlineMs ?? 8000;
  const concurrency = opts.concurrency ?? 8;
  const progressEvery = opts.progressEvery ?? 1000;

  const { view, pairs, problems } = await prepare(dir, log);
  const subjects = subjectTargets(view).filter((t) => !opts.only || opts.only.test(t.subject));
  const methods = grpcTargets(view).filter((t) => !opts.only || opts.only.test(`${t.service.name} ${t.path}`));
  const report: FuzzReport = {
    seed,
    iterations: 0,
    elapsedMs: 0,
    subjects: subjects.length,
    methods: methods.length,
    nats: { sent: 0, steered: 0, refusedByClient: 0, byKind: {} },
    grpc: { calls: 0, steered: 0, notEncodable: 0, byKind: {}, byStatus: {}, odd: {}, garbageTo: {}, undecodedBy: {}, malformedGrowth: {}, invalidBy: {}, invalidGrowth: {} },
    garbageTo: {},
    badMessagesGrowth: {},
    hung: [],
    problems,
    checks: [],
  };
  if (problems.length > 0) return report;

  const nc = await connect({ servers: view.lab.natsUrl, name: 'fuzzer', ...(view.natsAuth ?? {}) });
  const clients = new GrpcClients();
  const domainsBefore = await domainCounts(view);
  const badBefore = await badMessages(view.lab.services);
  // the controller too, where the lab says where its /metrics is
  const grpcServices = [...view.lab.services, ...(view.controller.metricsUrl ? [view.controller] : [])];
  const malformedBefore = await badMessages(grpcServices, GRPC_MALFORMED);
  const oversizedBefore = await badMessages(grpcServices, GRPC_OVERSIZED);
  const invalidBefore = await badMessages(grpcServices, GRPC_INVALID_ARGUMENT);
  try {
    const captured = await captureTraffic(view, nc, pairs);
    const byPayload = new Map<string, Array<{ subject: string; data: Uint8Array }>>();
    for (const t of subjects) for (const d of captured.get(t.subject) ?? []) byPayload.set(t.entry.payload, [...(byPayload.get(t.entry.payload) ?? []), { subject: t.subject, data: d }]);
    const maxPayload = nc.info?.max_payload ?? 1 << 20;
    const pools: HostilePools = {
      names: [...view.topo.hosts.flatMap((h) => [h.name, ...h.nics.map((n) => n.name), ...h.nics.map((n) => `${h.name}/${n.name}`)]), ...view.guests.flatMap((g) => [g.name, g.ip, g.mac]), ...view.topo.links.map((l) => l.name), 'dom0', 'udp', 'tcp', 'icmp', 'nic0'],
      numbers: [...[...view.domains.values()].flatMap((ds) => ds.map((d) => d.domid + 1000)), Math.max(0, ...[...view.domains.values()].flatMap((ds) => ds.map((d) => d.domid))) + 1, 4096, 1 << 20],
    };
    log(`fuzz: seed ${seed}, ${subjects.length} subjects, ${methods.length} gRPC methods, ${opts.iterations} iterations, ${[...captured.values()].reduce((n, l) => n + l.length, 0)} captured messages to replay`);

    const history: Sent[] = [];
    // VNETLAB_FUZZ_TRACE=FILE: every message sent, one JSON line each (to narrow a failure down)
    const traceFile = process.env.VNETLAB_FUZZ_TRACE;
    const note = (s: Sent) => {
      if (traceFile) appendFileSync(traceFile, JSON.stringify({ ...s, ms: Date.now() - t0 }) + '\n');
      history.push(s);
      if (history.length > 40) history.shift();
    };
    const inflight = new Set<Promise<void>>();
    const retries: Array<(via: GrpcClients) => Promise<Answer>> = [];
    // requests a service accepted (answered OK), as they were sent, by method: replayed later,
    // to the same service with the same credential, or to another service of the method
    const accepted = new Map<string, Array<{ service: string; reqs: Buffer[]; md: Record<string, string> }>>();
    const decodes = (t: GrpcTarget, b: Buffer): boolean => {
      try {
        t.def.requestDeserialize(b);
        return true;
      } catch {
        return false;
      }
    };

    const pickKind = (replayable: boolean): Mutation =>
      rng.weighted<Mutation>([
        [3, 'random'],
        [2, 'truncated'],
        [2, 'bitflip'],
        [0.4, 'oversized'],
        [4, 'hostile'],
        [replayable ? 1.5 : 0, 'replay'],
      ]);

    const natsOne = (i: number) => {
      const t = rng.pick(subjects);
      const replays = captured.get(t.subject) ?? [];
      const misdirected = byPayload.get(t.entry.payload) ?? [];
      const kind = pickKind(replays.length + misdirected.length > 0);
      let data: Uint8Array;
      const valid = () => encodeFor(t, t.sample(rng));
      try {
        switch (kind) {
          case 'random': data = randomBytes(rng); break;
          case 'truncated': data = truncate(rng.chance(0.5) && replays.length ? rng.pick(replays) : valid(), rng); break;
          case 'bitflip': data = bitflip(rng.chance(0.5) && replays.length ? rng.pick(replays) : valid(), rng); break;
          case 'oversized': data = oversized(valid(), maxPayload, rng); break;
          case 'hostile': data = encodeFor(t, mutateMessage(t.sample(rng), rng, pools)); break;
          case 'replay': data = replays.length && (rng.chance(0.7) || misdirected.length === 0) ? rng.pick(replays) : rng.pick(misdirected).data; break;
        }
      } catch {
        data = randomBytes(rng); // a hostile value the encoder itself refuses: send noise instead
      }
      let steered = false;
      if (t.steer) {
        const decoded = decodeFor(t, data);
        const s = decoded === undefined ? undefined : t.steer(decoded, rng);
        if (s !== undefined) {
          try {
            data = encodeFor(t, s);
            steered = true;
          } catch {
            return;
          }
        }
      }
      if (data.length > maxPayload) data = data.subarray(0, maxPayload);
      try {
        nc.publish(t.subject, data);
      } catch {
        report.nats.refusedByClient++;
        return;
      }
      report.nats.sent++;
      report.nats.byKind[kind] = (report.nats.byKind[kind] ?? 0) + 1;
      if (steered) report.nats.steered++;
      if (GARBAGE.has(kind) && !steered) for (const l of t.listeners) report.garbageTo[l] = (report.garbageTo[l] ?? 0) + 1;
      note({ i, to: t.subject, kind, bytes: data.length, steered });
    };

    const grpcOne = (i: number): Promise<void> => {
      const t = rng.pick(methods);
      const replays = accepted.get(t.path) ?? [];
      const kind = pickKind(replays.length > 0);
      const grpcLimit = 4 << 20;
      let raw: Buffer | undefined;
      let typed: unknown;
      let replayed: (typeof replays)[number] | undefined;
      const valid = () => t.def.requestSerialize(t.sample(rng));
      try {
        switch (kind) {
          case 'random': raw = randomBytes(rng); break;
          case 'truncated': raw = truncate(valid(), rng); break;
          case 'bitflip': raw = bitflip(valid(), rng); break;
          case 'oversized': raw = oversized(valid(), grpcLimit + (rng.chance(0.2) ? 1024 : 0), rng); break;
          case 'replay': replayed = rng.pick(replays); raw = replayed.reqs[0]; break;
          default: typed = mutateMessage(t.sample(rng), rng, pools);
        }
      } catch {
        raw = randomBytes(rng);
      }
      let steered = false;
      if (t.steer) {
        let decoded: unknown = typed;
        if (raw) {
          try {
            decoded = t.def.requestDeserialize(raw);
          } catch {
            decoded = undefined;
          }
        }
        const s = decoded === undefined ? undefined : t.steer(decoded, rng);
        if (s !== undefined) {
          steered = true;
          raw = undefined;
          typed = s;
        }
      }
      if (typed !== undefined) {
        try {
          t.def.requestSerialize(typed);
        } catch {
          report.grpc.notEncodable++;
          return Promise.resolve();
        }
      }
      const req = raw ?? typed;
      const md = new grpc.Metadata();
      let decodedForMd: unknown = typed;
      if (raw && t.metadata) {
        try {
          decodedForMd = t.def.requestDeserialize(raw);
        } catch {
          decodedForMd = undefined;
        }
      }
      // a replay to the service that accepted it carries the credential it carried then
      const sameService = replayed?.service === t.service.name;
      for (const [k, v] of Object.entries(sameService ? replayed!.md : t.metadata?.(rng, decodedForMd) ?? {})) md.set(k, v);
      // a hypercall stream carries a few requests, like a domain's
      const steerRaw = (b: Buffer): Buffer => {
        // noise that happens to decode is steered like any other request (and stays bytes)
        try {
          const s = t.steer?.(t.def.requestDeserialize(b), rng);
          return s === undefined ? b : t.def.requestSerialize(s);
        } catch {
          return b;
        }
      };
      const streamReqs = !t.def.requestStream ? []
        : replayed ? [req, ...replayed.reqs.slice(1).map((b) => (raw ? steerRaw(b) : ((d) => t.steer?.(d, rng) ?? d)(t.def.requestDeserialize(b))))]
        : [req, ...Array.from({ length: rng.int(3) }, () => (raw ? steerRaw(randomBytes(rng)) : t.steer?.(mutateMessage(t.sample(rng), rng, pools), rng) ?? t.sample(rng)))];
      // garbage the service's decoder must refuse before any handler runs (the hypercall
      // stream's decoder takes every message and counts the bad ones itself)
      const undecodable = (b: unknown) => Buffer.isBuffer(b) && b.length <= grpcLimit && !decodes(t, b);
      if (raw && !steered && !t.def.requestStream && undecodable(req)) report.grpc.garbageTo[t.service.name] = (report.grpc.garbageTo[t.service.name] ?? 0) + 1;
      note({ i, to: `${t.service.name} ${t.path}`, kind, bytes: raw?.length ?? -1, steered, ...(traceFile ? { note: raw ? raw.subarray(0, 48).toString('hex') : summary(typed) } : {}) });
      report.grpc.calls++;
      report.grpc.byKind[kind] = (report.grpc.byKind[kind] ?? 0) + 1;
      if (steered) report.grpc.steered++;
      const send = (via = clients) =>
        t.def.requestStream ? via.stream(t, streamReqs, !!raw, md, deadlineMs)
        : t.def.responseStream ? via.serverStream(t, req, !!raw, md, deadlineMs)
        : via.unary(t, req, !!raw, md, deadlineMs);
      return send().then(({ status, details }) => {
        report.grpc.byStatus[status] = (report.grpc.byStatus[status] ?? 0) + 1;
        if (details.startsWith(UNDECODED)) report.grpc.undecodedBy[t.service.name] = (report.grpc.undecodedBy[t.service.name] ?? 0) + 1;
        if (status === 'INVALID_ARGUMENT') report.grpc.invalidBy[t.service.name] = (report.grpc.invalidBy[t.service.name] ?? 0) + 1;
        if (status === 'OK' && kind !== 'replay') {
          const list = accepted.get(t.path) ?? [];
          const bytes = (t.def.requestStream ? streamReqs : [req]).map((r) => (Buffer.isBuffer(r) ? r : t.def.requestSerialize(r)));
          if (list.length < 16) list.push({ service: t.service.name, reqs: bytes, md: md.getMap() as Record<string, string> });
          accepted.set(t.path, list);
        }
        if (ODD.has(status)) {
          const o = (report.grpc.odd[`${t.service.kind} ${t.path}`] ??= {});
          o[`${kind} ${status}`] = (o[`${kind} ${status}`] ?? 0) + 1;
        }
        if (status === 'DEADLINE_EXCEEDED' && report.hung.length < 50) {
          const hex = (b: unknown) => (Buffer.isBuffer(b) ? `<${b.length} bytes ${b.subarray(0, 64).toString('hex')}${b.length > 64 ? '…' : ''}>` : summary(b));
          const request = t.def.requestStream ? `[${streamReqs.map(hex).join(', ')}] metadata ${summary(md.getMap())}` : hex(req);
          report.hung.push({ i, path: t.path, service: t.service.name, kind, request });
          retries.push(send);
          if (traceFile) appendFileSync(traceFile, JSON.stringify({ hung: i, service: t.service.name, path: t.path, metadata: md.getMap(), requests: (t.def.requestStream ? streamReqs : [req]).map((r) => (Buffer.isBuffer(r) ? { base64: r.toString('base64') } : { typed: r })) }) + '\n');
        }
      });
    };

    const pids = view.lab.services.map((s) => ({ name: s.name, pid: s.pid })).concat([{ name: 'controller', pid: view.lab.controllerPid }]);
    for (let i = 0; i < opts.iterations; i++) {
      report.iterations = i + 1;
      if (methods.length === 0 || (subjects.length > 0 && rng.chance(0.55))) {
        natsOne(i);
        if (i % 25 === 0) await nc.flush();
      } else {
        while (inflight.size >= concurrency) await Promise.race(inflight);
        const p: Promise<void> = grpcOne(i).finally(() => inflight.delete(p));
        inflight.add(p);
      }
      if ((i + 1) % 200 === 0) {
        await nc.flush();
        const dead = pids.filter((p) => !alive(p.pid));
        if (dead.length > 0) {
          problems.push(`after iteration ${i + 1}: ${dead.map((d) => d.name).join(', ')} died; last messages sent:\n  ${history.map((h) => JSON.stringify(h)).join('\n  ')}`);
          break;
        }
      }
      if ((i + 1) % progressEvery === 0) {
        const s = (Date.now() - t0) / 1000;
        opts.onProgress?.(`fuzz ${i + 1}/${opts.iterations} seed=${seed} nats=${report.nats.sent} grpc=${report.grpc.calls} steered=${report.nats.steered + report.grpc.steered} hung=${report.hung.length} ${s.toFixed(0)}s`);
      }
    }
    await Promise.all(inflight);
    await nc.flush();
    // let the services drain what is queued before judging them
    await sleep(1500);

    // ---- did the lab survive? ----
    for (const h of await health(view)) problems.push(`${h.service}: ${h.problem}`);
    // a call that hit its deadline during the barrage is sent again on the quiet lab: a handler
    // that hangs hangs again; one that was only slow under the barrage (or the machine's load) answers
    // (on connections of their own: a connection the barrage wedged is not the service's fault)
    const fresh = new GrpcClients(true);
    const again = await Promise.all(retries.map((r) => r(fresh))).finally(() => fresh.close());
    const hung = report.hung.filter((_, k) => again[k]?.status === 'DEADLINE_EXCEEDED');
    for (const [k, h] of report.hung.entries()) report.checks.push(`slow during the barrage: #${h.i} ${h.service} ${h.path}; sent again: ${again[k]?.status}`);
    if (hung.length > 0) problems.push(`${hung.length} gRPC calls hung until their deadline, also when sent again after the barrage: ${hung.slice(0, 5).map((h) => `#${h.i} ${h.service} ${h.path} ${h.request}`).join('; ')}`);
    const badAfter = await badMessages(view.lab.services);
    for (const s of view.lab.services) report.badMessagesGrowth[s.name] = (badAfter.get(s.name) ?? 0) - (badBefore.get(s.name) ?? 0);
    for (const [name, n] of Object.entries(report.garbageTo)) {
      if (n >= 5 && !(report.badMessagesGrowth[name]! > 0)) problems.push(`${name} got ${n} garbage messages but vnetlab_bad_messages_total did not grow`);
    }
    // gRPC garbage: refused by the service's decoder (never reaching a handler), and every
    // refusal counted by the service called
    const malformedAfter = await badMessages(grpcServices, GRPC_MALFORMED);
    const invalidAfter = await badMessages(grpcServices, GRPC_INVALID_ARGUMENT);
    const oversizedAfter = await badMessages(grpcServices, GRPC_OVERSIZED);
    // a request over the size limit is refused by the same decoder, and counted as oversized
    for (const s of grpcServices) report.grpc.malformedGrowth[s.name] = (malformedAfter.get(s.name) ?? 0) - (malformedBefore.get(s.name) ?? 0) + (oversizedAfter.get(s.name) ?? 0) - (oversizedBefore.get(s.name) ?? 0);
    for (const s of grpcServices) {
      const sent = report.grpc.garbageTo[s.name] ?? 0;
      const refused = report.grpc.undecodedBy[s.name] ?? 0;
      const counted = report.grpc.malformedGrowth[s.name]!;
      if (sent >= 5 && refused === 0) problems.push(`${s.name} got ${sent} gRPC requests that do not decode and answered none of them "${UNDECODED}"`);
      if (!(counted >= refused)) problems.push(`${s.name} refused ${refused} gRPC requests that do not decode but counted ${counted} in vnetlab_bad_messages_total{reason="${GRPC_MALFORMED}"|"${GRPC_OVERSIZED}"}`);
      report.grpc.invalidGrowth[s.name] = (invalidAfter.get(s.name) ?? 0) - (invalidBefore.get(s.name) ?? 0);
      const invalid = report.grpc.invalidBy[s.name] ?? 0;
      if (!(report.grpc.invalidGrowth[s.name]! >= invalid)) problems.push(`${s.name} answered ${invalid} gRPC requests INVALID_ARGUMENT but counted ${report.grpc.invalidGrowth[s.name]} in vnetlab_bad_messages_total{reason="${GRPC_INVALID_ARGUMENT}"}`);
    }
    const domainsAfter = await domainCounts(view);
    for (const [h, n] of domainsAfter) if (n !== domainsBefore.get(h)) problems.push(`${h}: ${n - (domainsBefore.get(h) ?? 0)} domains appeared during the barrage`);
    await protectionOn(view);
    let recovered = 0;
    for (const p of pairs) {
      const before = await metricSnapshot(view.lab.services);
      const got = await pingDetail(view, p, 2);
      report.checks.push(`ping ${p.src} → ${p.dst} (${p.across ? 'across hosts' : 'within a host'}): ${got.received}/2`);
      if (got.received !== 2) {
        // what the failed ping moved, on the services of the two guests' hosts
        const hosts = new Set([p.src, p.dst].map((g) => view.guests.find((x) => x.name === g)?.host));
        const onPath = new Set(view.lab.services.filter((s) => hosts.has(s.host ?? s.name) || s.name === p.src || s.name === p.dst || s.kind === 'fabric').map((s) => s.name));
        const during = moved(before, await metricSnapshot(view.lab.services), (k) => onPath.has(k.split(' ')[0]!) && !/_seconds|_bytes|cycles|modelled_time/.test(k), 80);
        const clocks = [...before].filter(([k]) => onPath.has(k.split(' ')[0]!) && /modelled_time/.test(k)).map(([k, v]) => `    ${k} ${v}`);
        const why = await diagnosePing(view, p);
        const text = `after the barrage ${p.src} → ${p.dst} (${p.across ? 'across hosts' : 'within a host'}) answered ${got.received} of 2 pings${got.error ? ` (${got.error})` : ''}\n  modelled clocks before it:\n${clocks.join('\n')}\n  what moved during it:\n${during.join('\n')}\n${why.text}`;
        // a path that answers again at once recovered (the barrage's timestamps may have set
        // clocks apart for a moment): reported, not a failure; one that stays silent is one
        // (one such path per run at most: more is a pattern, not a moment)
        if (why.recovered && ++recovered === 1) report.checks.push(`recovered after a retry: ${text}`);
        else problems.push(text);
      }
    }
    const bulkPair = pairs.find((p) => p.across)!;
    const bulk = await udpBulk(view, bulkPair, 100_000);
    report.checks.push(`udp bulk ${bulk.detail}`);
    if (!bulk.ok) problems.push(`after the barrage the UDP bulk does not balance: ${bulk.detail}`);
  } finally {
    clients.close();
    await nc.close();
    report.elapsedMs = Date.now() - t0;
  }
  return report;
}

/** The report as lines for a person. */
export function formatReport(r: FuzzReport): string {
  const kv = (o: Record<string, number>) => Object.entries(o).sort().map(([k, v]) => `${k} ${v}`).join(', ');
  return [
    `fuzz: seed ${r.seed} (VNETLAB_FUZZ_SEED=${r.seed} repeats it), ${r.iterations} iterations in ${(r.elapsedMs / 1000).toFixed(1)} s`,
    `  NATS: ${r.subjects} subjects, ${r.nats.sent} messages (${kv(r.nats.byKind)}), ${r.nats.steered} steered out of range, ${r.nats.refusedByClient} refused by the client`,
    `  gRPC: ${r.methods} (service, method) pairs, ${r.grpc.calls} calls (${kv(r.grpc.byKind)}), ${r.grpc.steered} steered, ${r.grpc.notEncodable} not encodable; statuses: ${kv(r.grpc.byStatus)}`,
    `  bad messages counted: ${kv(Object.fromEntries(Object.entries(r.badMessagesGrowth).filter(([, v]) => v > 0)))}`,
    `  gRPC requests that do not decode: sent ${kv(r.grpc.garbageTo)}; answered "${UNDECODED}" ${kv(r.grpc.undecodedBy)}; counted ${GRPC_MALFORMED} + ${GRPC_OVERSIZED} ${kv(Object.fromEntries(Object.entries(r.grpc.malformedGrowth).filter(([, v]) => v > 0)))}`,
    `  gRPC requests answered INVALID_ARGUMENT: ${kv(r.grpc.invalidBy)}; counted ${GRPC_INVALID_ARGUMENT} ${kv(Object.fromEntries(Object.entries(r.grpc.invalidGrowth).filter(([, v]) => v > 0)))}`,
    ...Object.entries(r.grpc.odd).map(([k, v]) => `  ${k}: ${Object.entries(v).map(([s, n]) => `${s} ${n}`).join(', ')}`),
    ...r.checks.map((c) => `  ${c}`),
    r.problems.length === 0 ? '  the lab survived' : `  PROBLEMS:\n${r.problems.map((p) => `  - ${p}`).join('\n')}`,
  ].join('\n');
}
