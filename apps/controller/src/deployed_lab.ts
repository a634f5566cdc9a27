// A lab deployed as containers (docker compose, Kubernetes), as its operator sees it: the
// services run already and answer at the addresses of a rendered table (services.json);
// nothing here starts or stops them.
import type { Topology } from '@vnetlab/topology';
import type { ServiceState } from './labfile.js';
import type { ServiceKind } from './plan.js';
import type { DeployedService } from './render/container_layout.js';

const KINDS: readonly ServiceKind[] = ['fabric', 'hypervisor', 'nic', 'driver-domain', 'guest'];

export class DeployedLabError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DeployedLabError';
  }
}

function portOf(where: string, what: string): number {
  const m = /:(\d{1,5})(?:\/|$)/.exec(where.replace(/^[a-z]+:\/\//, ''));
  const port = m ? Number(m[1]) : NaN;
  if (!(port > 0 && port < 65536)) throw new DeployedLabError(`${what} "${where}" has no port`);
  return port;
}

/**
 * The services of a rendered table, checked against the topology: every service of the
 * topology's plan once, none it does not have. They become the lab file's services, so that
 * every operator verb addresses them by their gRPC address and metrics URL.
 */
export function deployedServices(text: string, topo: Topology, planned: Array<{ name: string; kind: ServiceKind }>): ServiceState[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new DeployedLabError(`the services table is not JSON: ${(e as Error).message}`);
  }
  const rows = (doc as { services?: unknown })?.services;
  if (!Array.isArray(rows)) throw new DeployedLabError('the services table has no "services" list');
  const out: ServiceState[] = [];
  for (const [i, r] of (rows as Array<Partial<DeployedService>>).entries()) {
    const at = `services[${i}]`;
    if (typeof r?.name !== 'string' || !r.name) throw new DeployedLabError(`${at} has no name`);
    if (!KINDS.includes(r.kind as ServiceKind)) throw new DeployedLabError(`${at} (${r.name}) has kind "${r.kind}", not one of ${KINDS.join(', ')}`);
    if (typeof r.grpcAddr !== 'string' || typeof r.metricsUrl !== 'string') throw new DeployedLabError(`${at} (${r.name}) needs grpcAddr and metricsUrl`);
    if (!/^https?:\/\/[^/]+\/metrics$/.test(r.metricsUrl)) throw new DeployedLabError(`${at} (${r.name}): metricsUrl "${r.metricsUrl}" is not http://HOST:PORT/metrics`);
    if (out.some((s) => s.name === r.name)) throw new DeployedLabError(`${at}: service "${r.name}" is listed twice`);
    if (r.host !== undefined && !topo.hosts.some((h) => h.name === r.host)) throw new DeployedLabError(`${at} (${r.name}): no host "${r.host}" in lab "${topo.name}"`);
    out.push({
      kind: r.kind as ServiceKind,
      name: r.name,
      host: r.host,
      httpPort: portOf(r.metricsUrl, 'metricsUrl'),
      grpcPort: portOf(r.grpcAddr, 'grpcAddr'),
      args: [],
      grpcAddr: r.grpcAddr,
      metricsUrl: r.metricsUrl,
    });
  }
  const key = (s: { name: string; kind: string }) => `${s.kind} ${s.name}`;
  const missing = planned.filter((p) => !out.some((s) => key(s) === key(p)));
  const extra = out.filter((s) => !planned.some((p) => key(s) === key(p)));
  if (missing.length || extra.length)
    throw new DeployedLabError(
      `the services table does not match lab "${topo.name}"` +
        (missing.length ? `; missing: ${missing.map(key).join(', ')}` : '') +
        (extra.length ? `; not in the topology: ${extra.map(key).join(', ')}` : ''),
    );
  return out;
}

/** Gives every service the control token its gRPC control plane takes, from a {service: token} file. */
export function withControlTokens(services: ServiceState[], text: string): void {
  let tokens: unknown;
  try {
    tokens = JSON.parse(text);
  } catch (e) {
    throw new DeployedLabError(`the control tokens are not JSON: ${(e as Error).message}`);
  }
  if (typeof tokens !== 'object' || tokens === null || Array.isArray(tokens)) throw new DeployedLabError('the control tokens are not a {service: token} object');
  for (const s of services) {
    const t = (tokens as Record<string, unknown>)[s.name];
    if (typeof t !== 'string' || !t) throw new DeployedLabError(`no control token for ${s.name}`);
    s.controlToken = t;
  }
}

/** Where a service's health answers: beside its metrics. */
export const healthzUrl = (s: { metricsUrl: string }) => s.metricsUrl.replace(/\/metrics$/, '/healthz');
