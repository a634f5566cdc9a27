// Live migration as the toolstack drives it (seed 004): reserve bandwidth on the link between
// the hosts, let the source hypervisor run pre-copy to the target's, suspend the guest
// through xenstore, stop-and-copy, move the guest's bus permissions to the target, have the
// target's driver domain attach a backend (xenstore again), resume the guest there, and
// destroy what is left on the source. Every phase is published on migration.<host>.
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type { KV } from '@nats-io/kv';
import { mergeFlowCounts, type FlowCount } from '@vnetlab/flows';
import { control, migration, subjects, XENSTORE_BUCKET } from '@vnetlab/proto';
import { KvStore, TARGET_TOKEN_HEADER, unary, type Service } from '@vnetlab/runtime';
import type { Topology } from '@vnetlab/topology';
import { backendDir, waitForState, waitForValue, XenbusState } from '@vnetlab/xenbus';
import type { LabState, ServiceState } from './labfile.js';
import { serviceClient } from './service_client.js';
import { formatReport, linkBetween, phaseTraffic, Reservations } from './migration_report.js';

export interface MigrationDeps {
  /** Gives the guest's NATS user the subjects of its new placement (and takes the old ones). */
  regrant(guest: string, host: string, domid: number): Promise<void>;
  /** The guest runs on `host` now: the lab file says so. */
  moved(guest: string, host: string): void;
}

interface Placement { host: string; domid: number }

class Refused extends Error {}

/**
 * Wall time the report waits after the resume, so that the resumed phase shows the held frames
 * landing and a stream picking up again: a guest whose TCP lost ACKs during the move waits for
 * its retransmission timer, which fires after a second of wall-clock quiet (guest_kernel.ts).
 */
const RESUMED_SETTLE_MS = 1500;

/** Modelled times travel as whole nanoseconds (uint64). */
const ns = (t: number) => Math.max(0, Math.round(t));

export class MigrationService {
  private readonly placement = new Map<string, Placement>();
  private readonly busy = new Set<string>();
  private readonly reservations = new Reservations();

  constructor(
    private readonly topo: Topology,
    private readonly lab: LabState,
    private readonly svc: Service,
    private readonly deps: MigrationDeps,
  ) {
    // the hypervisors' domids at boot: dom0 is 0, a host's guests follow in topology order
    for (const h of topo.hosts) h.guests.forEach((g, i) => this.placement.set(g.name, { host: h.name, domid: i + 1 }));
  }

  private service(kind: string, host: string) {
    const s = this.lab.services.find((x) => x.kind === kind && x.host === host);
    if (!s) throw new Refused(`no ${kind} on ${host}`);
    return s;
  }

  private readonly admins = new Map<string, control.AdminClient>();

  /** One Admin client per service for the controller's life (as the operator keeps them). */
  private admin(s: ServiceState): control.AdminClient {
    let c = this.admins.get(s.grpcAddr);
    if (!c) this.admins.set(s.grpcAddr, (c = serviceClient(control.AdminClient, s)));
    return c;
  }

  private async flows(): Promise<FlowCount[]> {
    const all = await Promise.all(this.lab.services.map((s) =>
      unary<control.FlowStatsResponse>((cb) => this.admin(s).flows({}, new grpc.Metadata(), { deadline: Date.now() + 10_000 }, cb)).then((r) => r.flows, () => []),
    ));
    return mergeFlowCounts(all.map((fs) => fs.map((f) => ({ ...f, drops: { ...f.drops } }))));
  }

  private async labNow(): Promise<number> {
    const all = await Promise.all(this.lab.services.map((s) =>
      unary<control.HealthResponse>((cb) => this.admin(s).health({}, new grpc.Metadata(), { deadline: Date.now() + 10_000 }, cb)).then((r) => r.modelledTimeNs, () => 0),
    ));
    return Math.max(0, ...all);
  }

  /**
   * Publishes a phase; resolves once the server has it. The next phase may come from another
   * process (the hypervisors): awaiting this keeps the phases in order on migration.<host>.
   */
  private event(host: string, e: Partial<migration.MigrationEvent> & { domain: string; phase: string }): Promise<void> {
    this.svc.publish(subjects.migration(host), migration.MigrationEvent.encode({
      sourceHost: host, targetHost: '', round: 0, pages: 0, bytes: 0, downtimeSeconds: 0, detail: '', ...e,
      startNs: ns(e.startNs ?? 0), endNs: ns(e.endNs ?? 0),
    }).finish());
    return this.svc.nc.flush().catch(() => undefined);
  }

  async migrate(r: migration.MigrateRequest, progress: (line: string) => void): Promise<migration.MigrationReport> {
    this.svc.log.info('migration asked', { guest: r.guest, to: r.to, bandwidthBps: r.bandwidthBps, maxRounds: r.maxRounds });
    const spec = this.topo.hosts.flatMap((h) => h.guests).find((g) => g.name === r.guest);
    if (!spec) throw new Refused(`no guest "${r.guest}" in lab "${this.lab.name}"`);
    const iface = spec.interfaces[0];
    if (iface?.arch !== 'pv') throw new Refused(`${r.guest} has a ${iface?.arch ?? 'missing'} interface: live migration is modelled for pv guests only`);
    const from = this.placement.get(r.guest)!;
    if (!this.topo.hosts.some((h) => h.name === r.to)) throw new Refused(`no host "${r.to}" (hosts: ${this.topo.hosts.map((h) => h.name).join(', ')})`);
    if (r.to === from.host) throw new Refused(`${r.guest} already runs on ${r.to}`);
    const guestSvc = this.lab.services.find((s) => s.kind === 'guest' && s.name === r.guest)!;
    if (this.lab.services.some((s) => s.kind === 'hypervisor' && s.pid === guestSvc.pid)) {
      throw new Refused('live migration needs a lab of one process per service (vnetlab up without --mode host)');
    }
    const link = linkBetween(this.topo, from.host, r.to);
    if (!link) throw new Refused(`no link joins ${from.host} and ${r.to}: the migration stream has no way across`);
    if (this.busy.has(r.guest)) throw new Refused(`${r.guest} is already migrating`);
    this.busy.add(r.guest);
    const reserved = this.reservations.reserve(link, r.bandwidthBps);
    try {
      return await this.run(r, from, reserved.bps, link.name, iface.mac, iface.rx_mode, iface.ip, guestSvc, progress);
    } finally {
      reserved.release();
      this.busy.delete(r.guest);
    }
  }

  private async run(
    r: migration.MigrateRequest, from: Placement, bps: number, linkName: string, mac: string, rxMode: string, ip: string,
    guestSvc: ServiceState, progress: (line: string) => void,
  ): Promise<migration.MigrationReport> {
    const name = r.guest;
    const src = serviceClient(migration.MigrationClient, this.service('hypervisor', from.host));
    const kv = await this.svc.kv(XENSTORE_BUCKET);
    const store = new KvStore(kv);
    try {
      const startNs = ns(await this.labNow());
      const flows0 = await this.flows();
      await this.event(from.host, { domain: name, targetHost: r.to, phase: 'reserved', startNs, endNs: startNs, detail: `${(bps / 1e6).toFixed(0)} Mb/s on ${linkName}` });
      progress(`reserved ${(bps / 1e6).toFixed(0)} Mb/s on ${linkName} for ${name}: ${from.host} → ${r.to}`);

      // pre-copy: the source hypervisor streams pages to the target's while the guest runs
      const token = randomBytes(16).toString('hex');
      const rounds: migration.MigrationRound[] = [];
      let targetDomid = -1;
      let stopReason = '';
      await new Promise<void>((resolve, reject) => {
        // the source hypervisor streams to the target's control plane with the target's token
        const target = new grpc.Metadata();
        target.set(TARGET_TOKEN_HEADER, this.service('hypervisor', r.to).controlToken ?? '');
        const call = src.preCopy({ domain: name, targetHost: r.to, targetAddr: this.service('hypervisor', r.to).grpcAddr, bandwidthBps: bps, maxRounds: r.maxRounds, startNs, domainToken: token }, target);
        call.on('data', (p: migration.MigrationProgress) => {
          if (p.phase === 'prepared') {
            targetDomid = p.targetDomid;
            progress(`target prepared: dom${p.targetDomid} on ${r.to}`);
            return;
          }
          rounds.push({ round: p.round, phase: 'precopy', pages: p.pages, bytes: p.bytes, startNs: p.startNs, endNs: p.endNs, dirtiedDuring: p.dirtiedDuring });
          if (p.stopReason) stopReason = p.stopReason;
          progress(`pre-copy round ${p.round}: ${p.pages} pages in ${((p.endNs - p.startNs) / 1e6).toFixed(3)} ms, ${p.dirtiedDuring} dirtied meanwhile${p.stopReason ? ` — stop: ${p.stopReason}` : ''}`);
        });
        call.on('error', (e: grpc.ServiceError) => reject(new Refused(`pre-copy failed: ${e.details ?? e.message}`)));
        call.on('end', () => resolve());
      });
      const preEndNs = rounds.length ? rounds[rounds.length - 1]!.endNs : startNs;

      // stop-and-copy: the guest suspends (xenstore control/shutdown, as a PV guest is asked)
      const control = `${from.host}.local.domain.${from.domid}.control`;
      await store.remove(`${control}.suspended`).catch(() => undefined);
      await store.write(`${control}.shutdown-at-ns`, String(ns(preEndNs)));
      await store.write(`${control}.shutdown`, 'suspend');
      const suspendedNs = await waitForValue(store, `${control}.suspended`, (v) => v !== '', 60_000, 'was not written').then(Number).catch(async (e) => {
        await unary((cb) => src.abort({ domain: name, reason: 'the guest did not suspend' }, cb)).catch(() => undefined);
        throw new Refused(`${name} did not suspend: ${(e as Error).message}`);
      });
      // the guest's own counts stand still from here until it resumes (its I/O is held, its
      // backend sent what its ring held before it said it was suspended): the phase boundary
      const flows1 = await this.flows();
      progress(`${name} suspended at ${(suspendedNs / 1e6).toFixed(3)} ms (modelled); its backend on ${from.host} is closed`);
      const last = await unary<migration.StopAndCopyResponse>((cb) => src.stopAndCopy({ domain: name, suspendedNs: ns(suspendedNs) }, cb));
      rounds.push({ round: last.round, phase: 'stop_and_copy', pages: last.pages, bytes: last.bytes, startNs: last.startNs, endNs: last.endNs, dirtiedDuring: 0 });
      progress(`stop-and-copy: ${last.pages} pages in ${((last.endNs - last.startNs) / 1e6).toFixed(3)} ms; memory ${last.sourceSha256 === last.targetSha256 ? 'identical' : 'DIFFERENT'} on both hosts`);
      targetDomid = last.targetDomid;

      // the guest's bus permissions move to the target, then the target's netback is asked for
      await this.deps.regrant(name, r.to, targetDomid);
      const be = backendDir(r.to, 0, targetDomid);
      await store.write(`${be}.domain`, name);
      await store.write(`${be}.mac`, mac);
      await store.write(`${be}.rx-mode`, rxMode);
      await store.write(`${be}.online`, '1');
      await waitForState(store, be, [XenbusState.InitWait, XenbusState.Connected]);
      // the other boundary: the guest is still suspended, and the first thing it does on resume
      // is send what it held — that belongs to the resumed phase
      const flows2 = await this.flows();
      const guest = serviceClient(migration.GuestMigrationClient, guestSvc);
      const resumed = await unary<migration.ResumeResponse>((cb) =>
        guest.resume({ host: r.to, hypervisorAddr: this.service('hypervisor', r.to).grpcAddr, domainToken: token, atNs: ns(last.endNs) }, new grpc.Metadata(), { deadline: Date.now() + 60_000 }, cb),
      ).finally(() => guest.close());
      await this.event(from.host, { domain: name, targetHost: r.to, phase: 'resumed', startNs: suspendedNs, endNs: resumed.resumedNs, detail: `dom${resumed.domid} on ${r.to}` });
      progress(`${name} resumed on ${r.to} as dom${resumed.domid} at ${(resumed.resumedNs / 1e6).toFixed(3)} ms; ${resumed.framesQueued} queued frames sent, gratuitous ARP sent`);
      const released = await unary<migration.ReleaseResponse>((cb) => src.release({ domain: name, resumedNs: ns(resumed.resumedNs) }, cb));
      this.placement.set(name, { host: r.to, domid: resumed.domid });
      this.deps.moved(name, r.to);
      // the source's xenstore directories of the old domain go (the toolstack's clean-up)
      await removeTree(kv, `${from.host}.local.domain.${from.domid}`);
      await removeTree(kv, backendDir(from.host, 0, from.domid));
      // the resumed phase runs until the report: a short settle lets the held frames land
      await new Promise((res) => setTimeout(res, RESUMED_SETTLE_MS));
      const flows3 = await this.flows();
      const reportNs = Math.max(resumed.resumedNs, await this.labNow());

      await this.event(from.host, { domain: name, targetHost: r.to, phase: 'done', startNs, endNs: resumed.resumedNs, downtimeSeconds: released.downtimeSeconds, detail: `${rounds.length} rounds, ${last.pagesTotal} pages` });
      const migrationBytes = (phase: string) => rounds.filter((x) => x.phase === phase).reduce((n, x) => n + x.bytes, 0);
      const report: migration.MigrationReport = {
        guest: name, from: from.host, to: r.to, sourceDomid: from.domid, targetDomid: resumed.domid, bandwidthBps: bps, stopReason,
        rounds, startNs, suspendedNs, resumedNs: resumed.resumedNs,
        totalSeconds: (resumed.resumedNs - startNs) / 1e9, downtimeSeconds: released.downtimeSeconds,
        framesQueued: resumed.framesQueued, sourceSha256: last.sourceSha256, targetSha256: last.targetSha256, pagesTotal: last.pagesTotal,
        traffic: [
          // the guest runs at the source until it suspends: the suspend handshake is pre-copy's
          phaseTraffic('precopy', ip, flows0, flows1, { startNs, endNs: suspendedNs, migrationBytes: migrationBytes('precopy') }),
          phaseTraffic('stop_and_copy', ip, flows1, flows2, { startNs: suspendedNs, endNs: resumed.resumedNs, migrationBytes: migrationBytes('stop_and_copy') }),
          phaseTraffic('resumed', ip, flows2, flows3, { startNs: resumed.resumedNs, endNs: reportNs, migrationBytes: 0 }),
        ],
      };
      return report;
    } finally {
      src.close();
    }
  }

  impl(): migration.MigrationsServer {
    return {
      migrate: (call) => {
        const progress = (line: string) => {
          this.svc.log.info('migration', { guest: call.request.guest, progress: line });
          call.write({ progress: line, report: undefined });
        };
        this.migrate(call.request, progress).then(
          (report) => {
            call.write({ progress: '', report });
            call.end();
          },
          (e) => call.emit('error', { code: e instanceof Refused ? grpc.status.FAILED_PRECONDITION : grpc.status.INTERNAL, details: (e as Error).message }),
        );
      },
    };
  }
}

/** Removes every key under `prefix` (the controller's own KV handle: it may list keys). */
async function removeTree(kv: KV, prefix: string): Promise<void> {
  const keys: string[] = [];
  for await (const k of await kv.keys(`${prefix}.>`)) keys.push(k);
  for (const k of keys) await kv.delete(k);
}

export { formatReport };
