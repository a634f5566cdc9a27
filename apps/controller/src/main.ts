// The controller: runs one lab. Starts a private nats-server and every service as a local
// process, watches them, serves the operator API, and stops everything on Shutdown.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type * as grpc from '@grpc/grpc-js';
import { ANY, control, fault, inspect, migration, protection, subjects } from '@vnetlab/proto';
import { ConfigError, parseServiceArgs, reloadNatsServer, startNatsServer, startService, stopNatsServer, type NatsServerHandle } from '@vnetlab/runtime';
import { loadTopology } from '@vnetlab/topology';
import { isAlive, startingLab, writeLab, type LabState, type ServiceState } from './labfile.js';
import { freePorts, serviceArgs, spawnHost, spawnService, stopPids, waitHealthy } from './launcher.js';
import { Operator } from './operator.js';
import { natsConfig, natsUserName, natsUsers } from './nats_auth.js';
import { connect } from '@nats-io/transport-node';
import { createLabBuckets } from './nats_buckets.js';
import { ProtectionService } from './protection.js';
import { OPERATOR_CREDENTIAL } from './operator_auth.js';
import { FaultService } from './faults.js';
import { MigrationService } from './migration.js';
import { Evacuation } from './evacuation.js';
import { decodeLabEvent, EventLog } from './event_log.js';
import { serviceClient } from './service_client.js';
import { InspectApi } from './inspect_api.js';
import { planLab, type ServiceKind } from './plan.js';
import { startPrometheus, writePrometheusFiles } from './prometheus.js';

const cfg = (() => {
  try {
    return parseServiceArgs(process.argv.slice(2), {
      kind: 'controller',
      description: 'Runs a lab: nats-server, every service, and the operator API. Started by `vnetlab up`.',
      options: {
        topology: { help: 'topology file of the lab' },
        mode: { help: 'process: every service its own process; host: one process per host (services keep their NATS and gRPC boundaries, and share the host\'s memory and cores)', default: 'process' },
        'with-prometheus': { help: 'also start prometheus scraping every service', type: 'boolean', default: false },
        'auto-migrate': { help: 'migrate the pv guests of a host whose NIC failed to the host that carries their redirected traffic', type: 'boolean', default: true },
      },
    });
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(e.message + '\n');
      process.exit(2);
    }
    throw e;
  }
})();

const t0 = Date.now();
const labDir = cfg.labDir;
const topologyFile = String(cfg.options.topology);
const topo = loadTopology(topologyFile);
const memDir = existsSync('/dev/shm') ? `/dev/shm/vnetlab-${process.pid}` : join(labDir, 'mem');
mkdirSync(memDir, { recursive: true });
rmSync(join(labDir, 'jetstream'), { recursive: true, force: true });

const procs = new Map<string, ChildProcess>();
let nats: NatsServerHandle | undefined;
let stopping = false;

const state: LabState = startingLab(topo.name, topologyFile, { natsUrl: '', memDir, services: [], startedAtMs: t0 });
const save = () => writeLab(labDir, state);
save();

async function shutdown(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    state.phase = 'stopping';
    save();
    // guests first, the hypervisors last: the reverse of the start order
    const order: ServiceKind[] = ['guest', 'driver-domain', 'nic', 'hypervisor', 'fabric'];
    for (const kind of order) await stopPids([...new Set(state.services.filter((s) => s.kind === kind && s.pid).map((s) => s.pid!))], 5000);
    if (nats) await stopNatsServer(nats).catch(() => undefined);
    if (state.prometheusPid) await stopPids([state.prometheusPid], 5000);
    rmSync(memDir, { recursive: true, force: true });
    state.phase = 'stopped';
    save();
  }
  process.exit(code);
}

process.on('SIGTERM', () => void shutdown(0));
process.on('SIGINT', () => void shutdown(0));

try {
  const plan = planLab(topo);
  // One NATS user per service with exactly its subjects; the controller may do anything.
  // Domain ids are the hypervisor's: dom0 is 0, a host's guests follow in topology order.
  const domidOf = (h: string, name: string) => (topo.hosts.find((x) => x.name === h)?.guests.findIndex((g) => g.name === name) ?? -1) + 1;
  const natsUsersList = natsUsers(topo, plan.services, domidOf);
  const controllerUser = { user: 'controller', password: randomBytes(12).toString('hex') };
  const natsConf = join(labDir, 'nats.conf');
  // JetStream in the configuration, not in flags: a reload (a guest's permissions moving
  // with it to another host) keeps it
  const jetstreamDir = join(labDir, 'jetstream');
  writeFileSync(natsConf, natsConfig(natsUsersList, controllerUser, jetstreamDir), { mode: 0o600 });
  nats = await startNatsServer({ storeDir: jetstreamDir, configFile: natsConf, jetstreamInConfig: true });
  state.natsUrl = nats.url;
  state.natsPid = nats.pid;
  save();
  // The buckets exist before any service opens them: services may read and write keys, never create streams.
  {
    const nc = await connect({ servers: nats.url, user: controllerUser.user, pass: controllerUser.password });
    await createLabBuckets(nc);
    await nc.close();
  }
  const credentialsOf = new Map(natsUsersList.map((u) => [u.user, u]));
  // real ports, allocated up front so every service knows its peers' addresses
  const ports = await freePorts(plan.services.length * 2 + 3);
  plan.services.forEach((s, i) => {
    s.httpPort = ports[2 * i];
    s.grpcPort = ports[2 * i + 1];
  });
  const hvAddr = new Map(plan.services.filter((s) => s.kind === 'hypervisor').map((s) => [s.host!, `127.0.0.1:${s.grpcPort}`]));
  // each service's control token (libs/runtime control_auth.ts): handed to it alone, all of them kept in the 0600 lab file
  state.services = plan.services.map((s): ServiceState => ({ ...s, metricsUrl: `http://127.0.0.1:${s.httpPort}/metrics`, grpcAddr: `127.0.0.1:${s.grpcPort}`, healthy: false, controlToken: randomBytes(16).toString('hex') }));
  save();

  const common = { topologyFile, natsUrl: nats.url, labDir, peers: [] as string[] };
  // The toolstack's credentials: one per domain, known to that domain and to its hypervisor,
  // which binds each hypercall stream to the domain whose credential it presents.
  const credentials = new Map<string, Record<string, string>>();
  for (const h of topo.hosts) {
    const c: Record<string, string> = { dom0: randomBytes(16).toString('hex') };
    for (const g of h.guests) c[g.name] = randomBytes(16).toString('hex');
    credentials.set(h.name, c);
    writeFileSync(join(labDir, `credentials-${h.name}.json`), JSON.stringify(c), { mode: 0o600 });
  }
  const withPeers = (s: ServiceState): ServiceState => {
    const extra = [...s.args];
    const nu = credentialsOf.get(natsUserName(s.name));
    if (nu) extra.push('--nats-user', nu.user, '--nats-password', nu.password);
    if (s.controlToken) extra.push('--control-token', s.controlToken);
    if (s.kind === 'hypervisor' || s.kind === 'nic') extra.push('--mem-dir', memDir);
    if (s.kind === 'hypervisor') extra.push('--domain-tokens', join(labDir, `credentials-${s.host}.json`));
    if (s.kind === 'driver-domain' || s.kind === 'guest') {
      extra.push('--hypervisor', hvAddr.get(s.host!)!);
      extra.push('--domain-token', credentials.get(s.host!)![s.kind === 'driver-domain' ? 'dom0' : s.name]!);
    }
    return { ...s, args: extra };
  };
  const watch = (members: ServiceState[], p: ChildProcess, label: string) => {
    for (const s of members) {
      procs.set(s.name, p);
      s.pid = p.pid;
    }
    p.on('exit', (code, signal) => {
      for (const s of members) s.healthy = false;
      if (!stopping) {
        process.stderr.write(`${label} exited (code ${code}, signal ${signal})\n`);
        // what each held dies with it: the flow reports name it (Operator.lostWith)
        const atMs = Date.now();
        const how = signal ? `signal ${signal}` : `exit code ${code}`;
        state.deaths = [...(state.deaths ?? []), ...members.map((s) => ({ service: s.name, kind: s.kind, ...(s.host ? { host: s.host } : {}), atMs, how }))];
        save();
      }
    });
  };
  const stage = async (batch: ServiceState[]) => {
    save();
    await waitHealthy(batch.map((s) => ({ name: s.name, httpPort: s.httpPort, proc: procs.get(s.name) })), 60_000, () => undefined);
    for (const s of batch) s.healthy = true;
    save();
  };
  if (String(cfg.options.mode) === 'host') {
    // one process per host; inside it the services start in order and share memory and cores
    const fabric = state.services.filter((s) => s.kind === 'fabric');
    for (const s of fabric) watch([s], spawnService(withPeers(s), common), s.name);
    await stage(fabric);
    const hosts = state.services.filter((s) => s.kind !== 'fabric');
    for (const h of topo.hosts) {
      const members = hosts.filter((s) => s.host === h.name);
      const planFile = join(labDir, `host-${h.name}.json`);
      writeFileSync(planFile, JSON.stringify({ host: h.name, topology: topologyFile, services: members.map((s) => ({ kind: s.kind, argv: serviceArgs(withPeers(s), common) })) }, null, 2), { mode: 0o600 });
      watch(members, spawnHost(h.name, planFile, labDir), `host ${h.name}`);
    }
    await stage(hosts);
  } else {
    const stages: ServiceKind[][] = [['fabric', 'hypervisor', 'nic'], ['driver-domain'], ['guest']];
    for (const kinds of stages) {
      const batch = state.services.filter((s) => kinds.includes(s.kind));
      for (const s of batch) watch([s], spawnService(withPeers(s), common), s.name);
      await stage(batch);
    }
  }

  const operatorPort = ports[ports.length - 1];
  const httpPort = ports[ports.length - 2];
  const prom = writePrometheusFiles(labDir, [
    ...state.services.map((s) => ({ address: `127.0.0.1:${s.httpPort}`, service: s.name, kind: s.kind })),
    { address: `127.0.0.1:${httpPort}`, service: 'controller', kind: 'controller' },
  ]);
  if (cfg.options['with-prometheus'] === true) {
    const p = await startPrometheus(labDir, prom.config, ports[ports.length - 3]);
    state.prometheusPid = p.pid;
    state.prometheusUrl = p.url;
    save();
  }
  const svc = await startService({
    config: { kind: 'controller', name: 'controller', host: 'lab', natsUrl: nats.url, natsUser: controllerUser.user, natsPassword: controllerUser.password, httpPort, grpcPort: operatorPort, bindAddress: '127.0.0.1', labDir, options: {}, controlToken: state.operatorToken },
    handleSignals: false,
    // every gRPC service of the controller, Admin included, is the operator API: it takes only the lab's operator token
    credential: OPERATOR_CREDENTIAL,
  });
  // the lab's timeline (vnetlab events): operator-visible events and every migration's phases
  const events = new EventLog();
  svc.subscribe(subjects.labEvents(), decodeLabEvent, (e) => void events.addLabEvent(e));
  svc.subscribe(subjects.migration(ANY), migration.MigrationEvent.decode, (m) => void events.addMigrationEvent(m));
  const op = new Operator(topo, state, () => void shutdown(0), events);
  // the bus went away and came back: what it carried meanwhile is gone (the flow reports name it)
  svc.onReconnect(() => {
    state.deaths = [...(state.deaths ?? []), { service: 'nats-server', kind: 'nats', atMs: Date.now(), how: 'connection lost' }];
    save();
  });
  // the operator API answers only calls carrying the lab's token (operator_auth.ts): the controller's control token
  const operatorOnly = <I extends grpc.UntypedServiceImplementation>(def: grpc.ServiceDefinition<I>, impl: I) => svc.addGrpc(def, impl);
  operatorOnly(control.OperatorService, op.impl());
  // flows, captures and traces (vnetlab flows|capture|trace), on the operator's address
  operatorOnly(inspect.InspectService, new InspectApi(topo, state, svc).impl());
  operatorOnly(protection.ProtectionService, new ProtectionService(topo, state, () => svc.nc).impl());
  // a supervisor's restart: the same service, arguments and ports, a new process
  const restart = async (name: string): Promise<fault.RestartResponse> => {
    const s = state.services.find((x) => x.name === name);
    if (!s) throw new Error(`no service "${name}" (services: ${state.services.map((x) => x.name).join(', ')})`);
    if (String(cfg.options.mode) === 'host') throw new Error(`${name} runs inside its host's process (--mode host): restart the lab in process mode to restart one service`);
    const wasRunning = s.pid !== undefined && isAlive(s.pid);
    if (wasRunning) await stopPids([s.pid!], 0);
    watch([s], spawnService(withPeers(s), common), s.name);
    await stage([s]);
    // the operator's clients share their channel to the service with this one: once it is
    // connected, the next verb finds the new process, not a channel that failed on the dead one
    const probe = serviceClient(control.AdminClient, s);
    await new Promise<void>((res) => probe.waitForReady(Date.now() + 5000, () => res()));
    probe.close();
    return { service: name, pid: s.pid ?? 0, wasRunning };
  };
  // the toolstack's evacuations (seed 004): guests leave a host whose NIC failed once their traffic is redirected
  const migrations = { run: undefined as undefined | ((guest: string, to: string) => Promise<migration.MigrationReport>) };
  const evacuations = svc.metrics.counter('vnetlab_evacuations_total', 'Guests the toolstack tried to move off a host whose NIC failed, by result (done, failed)', ['result']);
  // exported at zero from the start: a dashboard's rate() needs the series before the first failure
  for (const result of ['done', 'failed']) evacuations.inc({ result }, 0);
  const evacuation = new Evacuation(topo, {
    hostOf: (g) => state.services.find((s) => s.kind === 'guest' && s.name === g)?.host,
    migrate: (g, to) => migrations.run!(g, to),
    settleMs: 2000,
    onRecord: (r, phase) => {
      const how = r.report ? `: ${r.report.rounds.length} pre-copy rounds, downtime ${(r.report.downtimeSeconds * 1e6).toFixed(1)} µs modelled` : r.error ? `: ${r.error}` : '';
      svc.event(`evacuation-${phase}`, `${r.guest} ${phase === 'started' ? 'leaves' : phase === 'done' ? 'left' : 'could not leave'} ${r.fromHost} for ${r.toHost} (${r.fromHost}/${r.nic} failed)${how}`, { guest: r.guest, from: r.fromHost, to: r.toHost });
      svc.log.warn(`evacuation ${phase}`, { guest: r.guest, from: r.fromHost, to: r.toHost, error: r.error });
      if (phase !== 'started') evacuations.inc({ result: phase });
    },
  });
  const autoMigrate = cfg.options['auto-migrate'] !== false;
  if (autoMigrate) svc.subscribe(subjects.fault(ANY), fault.FaultReport.decode, (r) => void evacuation.onFaultReport(r));
  operatorOnly(fault.FaultsService, new FaultService(topo, () => svc.nc, restart, { autoMigrate, records: evacuation.records }).impl());
  // live migration (vnetlab migrate): a migrated guest's NATS user gets its new host's subjects
  const natsHandle = nats;
  const regrant = async (guest: string, host: string, domid: number) => {
    const i = natsUsersList.findIndex((u) => u.user === natsUserName(guest));
    if (i < 0) throw new Error(`no NATS user for ${guest}`);
    const [fresh] = natsUsers(topo, [{ kind: 'guest', name: guest, host, httpPort: 0, grpcPort: 0, args: [] }], () => domid, () => natsUsersList[i]!.password);
    natsUsersList[i] = fresh!;
    writeFileSync(natsConf, natsConfig(natsUsersList, controllerUser, jetstreamDir), { mode: 0o600 });
    await reloadNatsServer(natsHandle);
  };
  const moved = (guest: string, host: string) => {
    for (const s of state.services) if (s.kind === 'guest' && s.name === guest) s.host = host;
    save();
  };
  const migrationService = new MigrationService(topo, state, svc, { regrant, moved });
  migrations.run = (guest, to) => migrationService.migrate({ guest, to, bandwidthBps: 0, maxRounds: 0 }, (line) => svc.log.info('evacuation progress', { guest, line }));
  operatorOnly(migration.MigrationsService, migrationService.impl());
  await svc.listen();
  svc.ready();
  state.operatorAddr = `127.0.0.1:${operatorPort}`;
  state.phase = 'ready';
  state.readyMs = Date.now() - t0;
  save();
} catch (e) {
  state.phase = 'failed';
  state.error = (e as Error).message;
  save();
  process.stderr.write(`lab failed to start: ${(e as Error).stack}\n`);
  await shutdown(1);
}

