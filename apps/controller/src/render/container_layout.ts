// How the services of a lab run as containers: one container per service, every setting in
// VNETLAB_* variables (libs/runtime service_args), fixed ports. The services of one host
// share that host's machine memory, a directory mounted at MEM_DIR in each of them.
import type { Topology } from '@vnetlab/topology';
import { planLab, type ServiceKind } from '../plan.js';

/** Where the topology file, the machine memory and the lab's files are inside a container. */
export const TOPOLOGY_PATH = '/etc/vnetlab/topology.yaml';
export const MEM_DIR = '/vnetlab/mem';
export const LAB_DIR = '/vnetlab/lab';
export const NATS_PORT = 4222;

/** Ports are numbered by the service's place in the plan, so that the containers of one
 * Kubernetes pod (one network namespace) never collide. */
export const HTTP_PORT_BASE = 9100;
export const GRPC_PORT_BASE = 50100;

export interface ContainerService {
  kind: ServiceKind;
  /** The service's name in the lab, e.g. "host-a/hypervisor" (its metrics' `service` label). */
  name: string;
  /** A DNS-safe form of the name: compose service, Kubernetes container name. */
  id: string;
  host?: string;
  httpPort: number;
  grpcPort: number;
  /** Service-specific settings as VNETLAB_* variables (without the common ones). */
  env: Record<string, string>;
  /** Whether it maps the host's machine memory itself (the others learn its path from the hypervisor). */
  mapsMemory: boolean;
}

/** A DNS label: lower-case letters, digits and '-', at most 63 characters. */
export function dnsLabel(s: string): string {
  const l = s.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 63);
  if (!l) throw new Error(`"${s}" has nothing to make a DNS name of`);
  return l;
}

/**
 * The lab's services as containers. `hypervisorAddr(host, port)` says how a host's driver
 * domain and guests reach its hypervisor: another container by name (compose) or the same
 * pod (Kubernetes: 127.0.0.1).
 */
export function containerServices(topo: Topology, hypervisorAddr: (hvId: string, port: number) => string): ContainerService[] {
  const plan = planLab(topo);
  const out: ContainerService[] = plan.services.map((s, i) => {
    const env: Record<string, string> = {};
    // the plan's args are "--flag value" pairs; the same settings as variables
    for (let a = 0; a < s.args.length; a += 2) env[`VNETLAB_${s.args[a].slice(2).toUpperCase().replace(/-/g, '_')}`] = s.args[a + 1];
    const mapsMemory = s.kind === 'hypervisor' || s.kind === 'nic';
    if (mapsMemory) env.VNETLAB_MEM_DIR = MEM_DIR;
    return { kind: s.kind, name: s.name, id: dnsLabel(s.name), host: s.host, httpPort: HTTP_PORT_BASE + i, grpcPort: GRPC_PORT_BASE + i, env, mapsMemory };
  });
  const ids = new Set(out.map((s) => s.id));
  if (ids.size !== out.length) throw new Error('two services of the lab have the same DNS name; rename a guest or NIC');
  for (const s of out) {
    if (s.kind !== 'driver-domain' && s.kind !== 'guest') continue;
    const hv = out.find((x) => x.kind === 'hypervisor' && x.host === s.host)!;
    s.env.VNETLAB_HYPERVISOR = hypervisorAddr(hv.id, hv.grpcPort);
  }
  return out;
}

/** The VNETLAB_* settings every service gets, plus its own. */
export function serviceEnv(s: ContainerService, natsUrl: string): Record<string, string> {
  return {
    VNETLAB_NAME: s.name,
    VNETLAB_TOPOLOGY: TOPOLOGY_PATH,
    VNETLAB_NATS_URL: natsUrl,
    VNETLAB_BIND: '0.0.0.0',
    VNETLAB_HTTP_PORT: String(s.httpPort),
    VNETLAB_GRPC_PORT: String(s.grpcPort),
    VNETLAB_LAB_DIR: LAB_DIR,
    ...s.env,
  };
}

/** A health check that needs nothing but node (the image has no curl). */
export function healthCommand(httpPort: number): string[] {
  return ['node', '-e', `fetch('http://127.0.0.1:${httpPort}/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`];
}

/** The operator of a deployed lab (deployed_main.ts): its own pod or container, its own ports. */
export const OPERATOR_ID = 'controller';
export const OPERATOR_HTTP_PORT = HTTP_PORT_BASE - 1;
export const OPERATOR_GRPC_PORT = GRPC_PORT_BASE - 1;
/** Where the operator container finds the table of the lab's services. */
export const SERVICES_PATH = '/etc/vnetlab-operator/services.json';

/** One row of that table: where a deployed service answers. */
export interface DeployedService {
  kind: ServiceKind;
  name: string;
  host?: string;
  /** host:port of its gRPC server (Admin, and Guest for a guest) */
  grpcAddr: string;
  /** http://host:port/metrics (its /healthz is beside it) */
  metricsUrl: string;
}

/** The table the operator reads: `addressOf(s)` is the DNS name a service answers on. */
export function deployedServicesJson(services: ContainerService[], addressOf: (s: ContainerService) => string): string {
  const rows: DeployedService[] = services.map((s) => ({
    kind: s.kind,
    name: s.name,
    ...(s.host ? { host: s.host } : {}),
    grpcAddr: `${addressOf(s)}:${s.grpcPort}`,
    metricsUrl: `http://${addressOf(s)}:${s.httpPort}/metrics`,
  }));
  return JSON.stringify({ services: rows }, null, 2) + '\n';
}

/** Every service kind the image's entrypoint can run. */
export const SERVICE_KINDS: readonly string[] = ['hypervisor', 'nic', 'driver-domain', 'guest', 'fabric', 'controller', 'host'];
