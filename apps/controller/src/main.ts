// The controller: runs one lab. Starts a private nats-server and every service as a local
// process, watches them, serves the operator API, and stops everything on Shutdown.
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { control } from '@vnetlab/proto';
import { ConfigError, parseServiceArgs, startNatsServer, startService, stopNatsServer, type NatsServerHandle } from '@vnetlab/runtime';
import { loadTopology } from '@vnetlab/topology';
import { writeLab, type LabState, type ServiceState } from './labfile.js';
import { freePorts, spawnService, stopPids, waitHealthy } from './launcher.js';
import { Operator } from './operator.js';
import { planLab, type ServiceKind } from './plan.js';

const cfg = (() => {
  try {
    return parseServiceArgs(process.argv.slice(2), {
      kind: 'controller',
      description: 'Runs a lab: nats-server, every service, and the operator API. Started by `vnetlab up`.',
      options: { topology: { help: 'topology file of the lab' } },
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

const state: LabState = {
  name: topo.name,
  topologyFile,
  controllerPid: process.pid,
  operatorAddr: '',
  natsUrl: '',
  memDir,
  phase: 'starting',
  startedAt: new Date(t0).toISOString(),
  services: [],
};
const save = () => writeLab(labDir, state);
save();

async function shutdown(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    state.phase = 'stopping';
    save();
    // guests first, the hypervisors last: the reverse of the start order
    const order: ServiceKind[] = ['guest', 'driver-domain', 'nic', 'hypervisor', 'fabric'];
    for (const kind of order) await stopPids(state.services.filter((s) => s.kind === kind && s.pid).map((s) => s.pid!), 5000);
    if (nats) await stopNatsServer(nats).catch(() => undefined);
    rmSync(memDir, { recursive: true, force: true });
    state.phase = 'stopped';
    save();
  }
  process.exit(code);
}

process.on('SIGTERM', () => void shutdown(0));
process.on('SIGINT', () => void shutdown(0));

try {
  nats = await startNatsServer({ storeDir: join(labDir, 'jetstream') });
  state.natsUrl = nats.url;
  state.natsPid = nats.pid;
  save();

  const plan = planLab(topo);
  // real ports, allocated up front so every service knows its peers' addresses
  const ports = await freePorts(plan.services.length * 2 + 2);
  plan.services.forEach((s, i) => {
    s.httpPort = ports[2 * i];
    s.grpcPort = ports[2 * i + 1];
  });
  const hvAddr = new Map(plan.services.filter((s) => s.kind === 'hypervisor').map((s) => [s.host!, `127.0.0.1:${s.grpcPort}`]));
  state.services = plan.services.map((s): ServiceState => ({ ...s, metricsUrl: `http://127.0.0.1:${s.httpPort}/metrics`, grpcAddr: `127.0.0.1:${s.grpcPort}`, healthy: false }));
  save();

  const common = { topologyFile, natsUrl: nats.url, labDir, peers: [] as string[] };
  const stages: ServiceKind[][] = [['fabric', 'hypervisor', 'nic'], ['driver-domain'], ['guest']];
  for (const kinds of stages) {
    const batch = state.services.filter((s) => kinds.includes(s.kind));
    for (const s of batch) {
      const extra = [...s.args];
      if (s.kind === 'hypervisor' || s.kind === 'nic') extra.push('--mem-dir', memDir);
      if (s.kind === 'driver-domain' || s.kind === 'guest') extra.push('--hypervisor', hvAddr.get(s.host!)!);
      const p = spawnService({ ...s, args: extra }, common);
      procs.set(s.name, p);
      s.pid = p.pid;
      p.on('exit', (code, signal) => {
        s.healthy = false;
        if (!stopping) {
          process.stderr.write(`${s.name} exited (code ${code}, signal ${signal})\n`);
          save();
        }
      });
    }
    save();
    await waitHealthy(batch.map((s) => ({ name: s.name, httpPort: s.httpPort, proc: procs.get(s.name) })), 60_000, () => undefined);
    for (const s of batch) s.healthy = true;
    save();
  }

  const operatorPort = ports[ports.length - 1];
  const httpPort = ports[ports.length - 2];
  const svc = await startService({
    config: { kind: 'controller', name: 'controller', host: 'lab', natsUrl: nats.url, httpPort, grpcPort: operatorPort, bindAddress: '127.0.0.1', labDir, options: {} },
    handleSignals: false,
  });
  const op = new Operator(topo, state, () => void shutdown(0));
  svc.addGrpc(control.OperatorService, op.impl());
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

