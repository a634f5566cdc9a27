#!/usr/bin/env node
// A whole host in one process: its hypervisor, NICs, driver domain and guests, each still a
// service of its own (its own NATS connection, gRPC server, /metrics and /healthz), sharing
// what one machine shares — its RAM (machine memory) and its physical cores. Domains placed
// on one core contend for it, as they do on real hardware.
import { PhysicalCore } from '@vnetlab/cost';
import { BufferMachineMemory } from '@vnetlab/memory';
import { DRIVER_DOMAIN_SPEC, startDriverDomain } from '@vnetlab/app-driver-domain';
import { GUEST_SPEC, startGuest } from '@vnetlab/app-guest';
import { HYPERVISOR_SPEC, startHypervisor } from '@vnetlab/app-hypervisor';
import { NIC_SPEC, startNic } from '@vnetlab/app-nic';
import { createLogger, parseServiceArgs, type HostShared, type Service, type ServiceConfig, type ServiceSpec } from '@vnetlab/runtime';
import { domainPages, hostSpec, loadTopology } from '@vnetlab/topology';
import { readFileSync } from 'node:fs';

const KINDS: Record<string, { spec: ServiceSpec; start: (cfg: ServiceConfig, shared: HostShared) => Promise<Service> }> = {
  hypervisor: { spec: HYPERVISOR_SPEC, start: startHypervisor },
  nic: { spec: NIC_SPEC, start: startNic },
  'driver-domain': { spec: DRIVER_DOMAIN_SPEC, start: startDriverDomain },
  guest: { spec: GUEST_SPEC, start: startGuest },
};

const USAGE = `usage: vnetlab-host --plan FILE

Runs every service of one host in one process. FILE is JSON: { "host": NAME,
"topology": FILE, "services": [ { "kind": KIND, "argv": [flags as the service takes them] } ] }
in start order (hypervisor, NICs, driver domain, guests). Written by the controller
(vnetlab up --mode host).`;

const args = process.argv.slice(2);
if (args.includes('--help') || args[0] !== '--plan' || !args[1]) {
  process.stdout.write(USAGE + '\n');
  process.exit(args.includes('--help') ? 0 : 2);
}
const plan = JSON.parse(readFileSync(args[1], 'utf8')) as { host: string; topology: string; services: Array<{ kind: string; argv: string[] }> };
const log = createLogger({ service: `${plan.host}/host`, host: plan.host });
const host = hostSpec(loadTopology(plan.topology), plan.host);

const cores = new Map<string, PhysicalCore>();
const shared: HostShared = {
  mem: new BufferMachineMemory(domainPages(host.memory_mib)),
  core: (name) => {
    let c = cores.get(name);
    if (!c) cores.set(name, (c = new PhysicalCore(name)));
    return c;
  },
  handleSignals: false,
};

const running: Service[] = [];
let stopping = false;
async function stop(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    for (const s of [...running].reverse()) await s.close().catch((e) => log.error('stop failed', { service: s.name, error: e }));
  }
  process.exit(code);
}
process.on('SIGTERM', () => void stop(0));
process.on('SIGINT', () => void stop(0));

try {
  for (const s of plan.services) {
    const kind = KINDS[s.kind];
    if (!kind) throw new Error(`unknown service kind "${s.kind}" (host processes run ${Object.keys(KINDS).join(', ')})`);
    running.push(await kind.start(parseServiceArgs(s.argv, kind.spec), shared));
  }
  log.info('host up', { services: running.length, cores: cores.size });
} catch (e) {
  log.error('host failed to start', { error: e });
  await stop(1);
}
