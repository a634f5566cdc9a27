// The hypervisor's side of live migration: as the source it runs pre-copy and the
// stop-and-copy of one of its domains and carries the pages over gRPC to the target's
// hypervisor; as the target it creates the receiving domain and places the pages. Every
// phase is counted in metrics and published on migration.<host>.
import * as grpc from '@grpc/grpc-js';
import { PageReceiver, PreCopy, domainMemoryHash, targetDomain, type Hypervisor, type PageBatch, type RoundReport } from '@vnetlab/hypervisor';
import type { MachineMemory } from '@vnetlab/memory';
import { migration, subjects } from '@vnetlab/proto';
import { controlClientOptions, grpcClient, TARGET_TOKEN_HEADER, unary, type Service } from '@vnetlab/runtime';

export interface MigrationHost {
  svc: Service;
  hv: Hypervisor;
  mem: MachineMemory;
  host: string;
  /** Domain names by domid, for metric labels: kept current as domains come and go. */
  names: Map<number, string>;
  /** Binds a credential to a domain: the received domain's hypercall stream presents it. */
  bindToken(token: string, domid: number): void;
}

/** Modelled times travel as whole nanoseconds (uint64). */
const ns = (t: number) => Math.max(0, Math.round(t));

/** Values of vnetlab_migration_phase. */
const PHASE = { none: 0, precopy: 1, stop_and_copy: 2, resumed: 3 } as const;

interface Outgoing {
  domid: number;
  name: string;
  targetHost: string;
  targetDomid: number;
  client: migration.MigrationClient;
  pre: PreCopy;
  suspendedNs?: number;
  send(b: PageBatch): Promise<void>;
}

class Refused extends Error {
  constructor(readonly code: grpc.status, message: string) {
    super(message);
  }
}

export function addMigrationService(h: MigrationHost): void {
  const { svc, hv, mem, host } = h;
  const m = svc.metrics;
  const phase = m.gauge('vnetlab_migration_phase', 'Live migration phase of a domain leaving this host (0 none, 1 pre-copy, 2 stop-and-copy, 3 resumed on the target)', ['domain']);
  const pagesSent = m.counter('vnetlab_migration_pages_total', 'Pages sent to the target hypervisor, by domain and round', ['domain', 'round']);
  const bytesSent = m.counter('vnetlab_migration_bytes_total', 'Bytes of the migration stream sent, by domain and phase', ['domain', 'phase']);
  const downtime = m.gauge('vnetlab_migration_downtime_seconds', 'Modelled downtime of the last migration of a domain from this host (suspended to running on the target)', ['domain']);
  const results = m.counter('vnetlab_migrations_total', 'Migrations from this host, by result', ['result']);
  const received = m.counter('vnetlab_migration_pages_received_total', 'Pages received from a source hypervisor, by domain', ['domain']);
  const outgoing = new Map<string, Outgoing>();
  const incoming = new Map<number, PageReceiver>();

  const event = (e: Partial<migration.MigrationEvent> & { domain: string; phase: string }) =>
    svc.publish(subjects.migration(host), migration.MigrationEvent.encode({
      sourceHost: host, targetHost: '', round: 0, pages: 0, bytes: 0, downtimeSeconds: 0, detail: '', ...e,
      startNs: ns(e.startNs ?? 0), endNs: ns(e.endNs ?? 0),
    }).finish());
  const domidOf = (name: string) => hv.domainIds().find((id) => hv.domain(id)?.name === name);
  const session = (name: string) => {
    const s = outgoing.get(name);
    if (!s) throw new Refused(grpc.status.FAILED_PRECONDITION, `no migration of "${name}" is under way from ${host}`);
    return s;
  };
  const count = (s: Outgoing, r: RoundReport) => {
    pagesSent.inc({ domain: s.name, round: String(r.round) }, r.pages);
    bytesSent.inc({ domain: s.name, phase: r.phase }, r.bytes);
  };
  const end = async (s: Outgoing, result: string) => {
    outgoing.delete(s.name);
    results.inc({ result });
    s.client.close();
  };

  async function preCopy(r: migration.PreCopyRequest, progress: (p: migration.MigrationProgress) => void, targetToken?: string): Promise<void> {
    const domid = domidOf(r.domain);
    if (domid === undefined || domid === 0) throw new Refused(grpc.status.NOT_FOUND, `no guest domain "${r.domain}" on ${host}`);
    if (outgoing.has(r.domain)) throw new Refused(grpc.status.ALREADY_EXISTS, `"${r.domain}" is already migrating`);
    if (!(r.bandwidthBps > 0)) throw new Refused(grpc.status.INVALID_ARGUMENT, `bandwidth ${r.bandwidthBps} b/s`);
    const p2m = () => hv.domain(domid)!.p2m;
    const pre = new PreCopy(mem, p2m, { bandwidthBps: r.bandwidthBps, startNs: r.startNs, ...(r.maxRounds ? { maxRounds: r.maxRounds } : {}) });
    const client = grpcClient(migration.MigrationClient, r.targetAddr, { 'grpc.max_send_message_length': 8 << 20, ...controlClientOptions(targetToken) });
    let prepared: migration.PrepareResponse;
    try {
      prepared = await unary((cb) => client.prepare({ name: r.domain, pages: p2m().length, domainToken: r.domainToken, sourceHost: host }, cb));
    } catch (e) {
      client.close();
      throw new Refused(grpc.status.UNAVAILABLE, `the target hypervisor refused to prepare "${r.domain}": ${(e as grpc.ServiceError).details ?? (e as Error).message}`);
    }
    const s: Outgoing = {
      domid, name: r.domain, targetHost: r.targetHost, targetDomid: prepared.domid, client, pre,
      send: async (b) => {
        await unary((cb) => client.putPages({ domid: prepared.domid, gfns: b.gfns, data: b.data.map((d) => d ?? Buffer.alloc(0)) }, cb));
      },
    };
    outgoing.set(r.domain, s);
    phase.set({ domain: r.domain }, PHASE.precopy);
    progress({ phase: 'prepared', round: 0, pages: 0, bytes: 0, startNs: ns(r.startNs), endNs: ns(r.startNs), dirtiedDuring: 0, targetDomid: prepared.domid, stopReason: '' });
    event({ domain: r.domain, targetHost: r.targetHost, phase: 'prepared', startNs: r.startNs, endNs: r.startNs, detail: `dom${prepared.domid} on ${r.targetHost}` });
    try {
      await pre.precopy(s.send, (rep) => {
        count(s, rep);
        const stop = pre.stopReason ?? '';
        progress({ phase: 'precopy', round: rep.round, pages: rep.pages, bytes: rep.bytes, startNs: ns(rep.startNs), endNs: ns(rep.endNs), dirtiedDuring: rep.dirtiedDuring, targetDomid: s.targetDomid, stopReason: stop });
        event({ domain: r.domain, targetHost: r.targetHost, phase: 'precopy', round: rep.round, pages: rep.pages, bytes: rep.bytes, startNs: rep.startNs, endNs: rep.endNs, detail: stop });
      });
    } catch (e) {
      await abort(s, `pre-copy failed: ${(e as Error).message}`);
      throw e;
    }
  }

  async function stopAndCopy(r: migration.StopAndCopyRequest): Promise<migration.StopAndCopyResponse> {
    const s = session(r.domain);
    if (!s.pre.stopReason) throw new Refused(grpc.status.FAILED_PRECONDITION, `pre-copy of "${r.domain}" has not finished`);
    s.suspendedNs = r.suspendedNs;
    phase.set({ domain: s.name }, PHASE.stop_and_copy);
    let rep: RoundReport;
    let targetSha: string;
    try {
      rep = await s.pre.stopAndCopy(s.send, r.suspendedNs);
      targetSha = (await unary<migration.CommitResponse>((cb) => s.client.commit({ domid: s.targetDomid }, cb))).sha256;
    } catch (e) {
      await abort(s, `stop-and-copy failed: ${(e as Error).message}`);
      throw e;
    }
    count(s, rep);
    const sourceSha = domainMemoryHash(mem, hv.domain(s.domid)!.p2m);
    event({ domain: s.name, targetHost: s.targetHost, phase: 'stop_and_copy', round: rep.round, pages: rep.pages, bytes: rep.bytes, startNs: rep.startNs, endNs: rep.endNs });
    svc.log.info('stop-and-copy done', { domain: s.name, pages: rep.pages, sourceSha, targetSha });
    return {
      round: rep.round, pages: rep.pages, bytes: rep.bytes, startNs: ns(rep.startNs), endNs: ns(rep.endNs), targetDomid: s.targetDomid,
      sourceSha256: sourceSha, targetSha256: targetSha, pagesTotal: s.pre.pagesSent,
    };
  }

  async function release(r: migration.ReleaseRequest): Promise<migration.ReleaseResponse> {
    const s = session(r.domain);
    if (s.suspendedNs === undefined) throw new Refused(grpc.status.FAILED_PRECONDITION, `"${r.domain}" has not been stopped and copied`);
    try {
      hv.destroyDomain(s.domid);
    } catch (e) {
      throw new Refused(grpc.status.FAILED_PRECONDITION, `domain ${s.domid} ("${s.name}") cannot be destroyed yet: ${(e as Error).message}`);
    }
    h.names.delete(s.domid);
    const seconds = Math.max(0, r.resumedNs - s.suspendedNs) / 1e9;
    downtime.set({ domain: s.name }, seconds);
    phase.set({ domain: s.name }, PHASE.resumed);
    event({ domain: s.name, targetHost: s.targetHost, phase: 'released', startNs: s.suspendedNs, endNs: r.resumedNs, downtimeSeconds: seconds });
    await end(s, 'done');
    return { downtimeSeconds: seconds };
  }

  async function abort(s: Outgoing, reason: string): Promise<void> {
    await unary((cb) => s.client.discard({ domid: s.targetDomid }, cb)).catch((e) => svc.log.warn('target could not discard', { domain: s.name, error: e }));
    phase.set({ domain: s.name }, PHASE.none);
    event({ domain: s.name, targetHost: s.targetHost, phase: 'aborted', detail: reason });
    svc.log.warn('migration aborted', { domain: s.name, reason });
    await end(s, 'aborted');
  }

  // ------------------------------------------------------------------ target

  function prepare(r: migration.PrepareRequest): migration.PrepareResponse {
    let d;
    try {
      d = hv.createDomain(r.name, r.pages);
    } catch (e) {
      throw new Refused(grpc.status.FAILED_PRECONDITION, (e as Error).message);
    }
    h.names.set(d.domid, d.name);
    if (r.domainToken) h.bindToken(r.domainToken, d.domid);
    incoming.set(d.domid, new PageReceiver(mem, targetDomain(hv, d.domid)));
    svc.log.info('receiving a domain', { name: r.name, domid: d.domid, pages: r.pages, from: r.sourceHost });
    return { domid: d.domid };
  }

  const receiver = (domid: number) => {
    const rx = incoming.get(domid);
    if (!rx) throw new Refused(grpc.status.NOT_FOUND, `no domain ${domid} is being received on ${host}`);
    return rx;
  };

  const run = <Req, Res>(fn: (r: Req) => Res | Promise<Res>) => (call: grpc.ServerUnaryCall<Req, Res>, cb: grpc.sendUnaryData<Res>) => {
    Promise.resolve().then(() => fn(call.request)).then(
      (res) => cb(null, res),
      (e) => {
        if (!(e instanceof Refused)) m.badMessage('migration', { error: e });
        cb({ code: e instanceof Refused ? e.code : grpc.status.INVALID_ARGUMENT, details: (e as Error).message } as grpc.ServiceError, null);
      },
    );
  };

  const impl: migration.MigrationServer = {
    preCopy(call) {
      // the target's control token, which the toolstack sent along for the page stream
      preCopy(call.request, (p) => call.write(p), call.metadata.get(TARGET_TOKEN_HEADER)[0]?.toString()).then(
        () => call.end(),
        (e) => call.emit('error', { code: e instanceof Refused ? e.code : grpc.status.INTERNAL, details: (e as Error).message }),
      );
    },
    stopAndCopy: run(stopAndCopy),
    release: run(release),
    abort: run(async (r: migration.AbortRequest) => {
      await abort(session(r.domain), r.reason || 'the toolstack gave up');
      return {};
    }),
    prepare: run(prepare),
    putPages: run((b: migration.PageBatch) => {
      const rx = receiver(b.domid);
      rx.put({ gfns: b.gfns, data: b.data.map((d) => (d.length === 0 ? undefined : Buffer.from(d))) });
      received.inc({ domain: h.names.get(b.domid) ?? String(b.domid) }, b.gfns.length);
      return { pages: rx.pages };
    }),
    commit: run((r: migration.CommitRequest) => {
      receiver(r.domid);
      incoming.delete(r.domid);
      return { sha256: domainMemoryHash(mem, hv.domain(r.domid)!.p2m) };
    }),
    discard: run((r: migration.DiscardRequest) => {
      receiver(r.domid);
      incoming.delete(r.domid);
      hv.destroyDomain(r.domid);
      h.names.delete(r.domid);
      return {};
    }),
  };
  svc.addGrpc(migration.MigrationService, impl);
}
