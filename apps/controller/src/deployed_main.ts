// The operator of a lab deployed as containers (docker compose, Kubernetes). NATS, the
// buckets and every service are the deployment's; this process serves the same operator API
// as a local lab's controller over them (vnetlab status, ping, bulk, traffic, flows, capture,
// protection, fail ...), and writes the lab file that the CLI beside it reads:
//   docker-compose exec controller vnetlab ping vm-a1 vm-b1
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { control, fault, inspect, protection } from '@vnetlab/proto';
import { ConfigError, parseServiceArgs, startService } from '@vnetlab/runtime';
import { loadTopology } from '@vnetlab/topology';
import { deployedServices, withControlTokens } from './deployed_lab.js';
import { FaultService } from './faults.js';
import { InspectApi } from './inspect_api.js';
import { startingLab, writeLab, type LabState } from './labfile.js';
import { Operator } from './operator.js';
import { requireOperatorToken } from './operator_auth.js';
import { planLab } from './plan.js';
import { ProtectionService } from './protection.js';

const cfg = (() => {
  try {
    return parseServiceArgs(process.argv.slice(2), {
      kind: 'controller',
      description:
        'The operator API of a lab whose services run as containers (rendered by `vnetlab render compose|k8s`). ' +
        'It starts nothing: it reaches the services at the addresses of --services and writes the lab file in --lab-dir for the CLI. ' +
        'Stop the lab with docker-compose down or kubectl delete; live migration needs a local lab.',
      options: {
        topology: { help: 'topology file of the lab' },
        services: { help: 'JSON table of the deployed services (services.json, rendered beside the compose or Kubernetes files)' },
        'control-tokens': { help: 'JSON file {service: control token}: what the operator calls each service\'s control plane with (rendered in credentials/)' },
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

const fatal = (what: string, e: unknown): never => {
  process.stderr.write(`operator: ${what}: ${(e as Error).message}\n`);
  process.exit(2);
};

const t0 = Date.now();
const topologyFile = String(cfg.options.topology ?? '');
const servicesFile = String(cfg.options.services ?? '');
if (!topologyFile || !servicesFile) fatal('usage', new Error('needs --topology and --services (or VNETLAB_TOPOLOGY and VNETLAB_SERVICES); see --help'));
const topo = (() => {
  try {
    return loadTopology(topologyFile);
  } catch (e) {
    return fatal(`topology ${topologyFile}`, e);
  }
})();
const services = (() => {
  try {
    return deployedServices(readFileSync(servicesFile, 'utf8'), topo, planLab(topo).services);
  } catch (e) {
    return fatal(`services ${servicesFile}`, e);
  }
})();
const tokensFile = cfg.options['control-tokens'] === undefined ? undefined : String(cfg.options['control-tokens']);
if (tokensFile) {
  try {
    withControlTokens(services, readFileSync(tokensFile, 'utf8'));
  } catch (e) {
    fatal(`control tokens ${tokensFile}`, e);
  }
}

const state: LabState = startingLab(topo.name, topologyFile, { natsUrl: cfg.natsUrl, memDir: '', services, startedAtMs: t0 });
writeLab(cfg.labDir, state);

const svc = await startService({ config: cfg });
const op = new Operator(topo, state, () => undefined);
const operatorOnly = <I extends grpc.UntypedServiceImplementation>(def: grpc.ServiceDefinition<I>, impl: I) =>
  svc.addGrpc(def, requireOperatorToken(def, impl, state.operatorToken!, (method, why) => svc.metrics.badMessage('unauthenticated', { method, error: why })));
// The deployment owns the containers: `vnetlab down` is refused with where to stop them.
const opImpl = op.impl();
opImpl.shutdown = (_call, cb) =>
  cb({ code: grpc.status.FAILED_PRECONDITION, details: `lab "${topo.name}" runs as containers: stop it with docker-compose down (compose) or kubectl delete -k (Kubernetes)` } as grpc.ServiceError, null);
operatorOnly(control.OperatorService, opImpl);
operatorOnly(inspect.InspectService, new InspectApi(topo, state, svc).impl());
operatorOnly(protection.ProtectionService, new ProtectionService(topo, state, () => svc.nc).impl());
operatorOnly(fault.FaultsService, new FaultService(topo, () => svc.nc).impl());
const port = await svc.listen();
svc.ready();
// the CLI in this container reaches the API on its loopback
state.operatorAddr = `127.0.0.1:${port}`;
state.phase = 'ready';
state.readyMs = Date.now() - t0;
writeLab(cfg.labDir, state);
