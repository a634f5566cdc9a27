// `vnetlab render compose`: a lab as a docker compose project — NATS with JetStream, one
// container per service (the same image, the service kind as its command), one tmpfs volume
// per host holding that host's machine memory, Prometheus scraping every service, and
// Grafana with the data source and dashboards provisioned. NATS has one user per service
// with exactly its subjects (nats/nats.conf), and a one-shot `nats-buckets` container
// creates the KV buckets before any service starts.
import type { Topology } from '@vnetlab/topology';
import { CONTROLLER_USER, DOMAIN_TOKENS_PATH, controlTokenOf, controlTokensJson, devSecretComment, domainTokenOf, domainTokensJson, labCredentials, natsUserOf } from './lab_credentials.js';
import { LAB_DIR, MEM_DIR, NATS_PORT, TOPOLOGY_PATH, containerServices, dnsLabel, healthCommand, serviceEnv, type ContainerService } from './container_layout.js';
import { dashboardJson, dashboards } from './dashboards.js';
import { grafanaDashboardProvider, grafanaDatasource } from './grafana_provisioning.js';
import { staticPrometheusConfig } from './prometheus_config.js';
import { toYaml } from './yaml_text.js';

export interface RenderOptions {
  /** The image every vnetlab service runs (built from the repository's Dockerfile). */
  image?: string;
  /** The secret every password and domain token is derived from (none: the development secret). */
  secret?: string;
}

export const DEFAULT_IMAGE = 'vnetlab:latest';
export const NATS_IMAGE = 'nats:2.9';
export const PROMETHEUS_IMAGE = 'prom/prometheus:v2.42.0';
export const GRAFANA_IMAGE = 'grafana/grafana:10.4.2';

/** relative path → file content */
export type RenderedFiles = Record<string, string>;

export const memVolume = (host: string) => `mem-${dnsLabel(host)}`;
/** The one-shot container that creates the KV buckets (services may not). */
export const BUCKETS_SERVICE = 'nats-buckets';
export const NATS_CONF_PATH = '/etc/nats/nats.conf';

function dependsOn(s: ContainerService, all: ContainerService[]): Record<string, { condition: string }> {
  const deps: Record<string, { condition: string }> = { nats: { condition: 'service_started' }, [BUCKETS_SERVICE]: { condition: 'service_completed_successfully' } };
  // The local launcher's start order (plan.ts): a driver domain after its host's hypervisor and
  // NICs, a guest after its driver domain.
  const before = s.kind === 'driver-domain' ? ['hypervisor', 'nic'] : s.kind === 'guest' ? ['driver-domain'] : [];
  for (const x of all) if (x.host === s.host && before.includes(x.kind)) deps[x.id] = { condition: 'service_healthy' };
  return deps;
}

/** The file of every service's control token (what an operator calls them with). */
export const CONTROL_TOKENS_FILE = 'control-tokens.json';

/** A host's domain credentials file (the hypervisor's --domain-tokens). */
export const domainTokensFile = (host: string) => `domain-tokens.${dnsLabel(host)}.json`;

export function renderCompose(topo: Topology, topologyText: string, opts: RenderOptions = {}): RenderedFiles {
  const image = opts.image ?? DEFAULT_IMAGE;
  const natsUrl = `nats://nats:${NATS_PORT}`;
  const services = containerServices(topo, (hv, port) => `${hv}:${port}`);
  const creds = labCredentials(topo, opts.secret);
  const compose: Record<string, unknown> = {};
  const svcs: Record<string, unknown> = {
    nats: {
      image: NATS_IMAGE,
      command: ['-c', NATS_CONF_PATH, '-js', '-sd', '/data', '-m', '8222'],
      volumes: [`./nats/nats.conf:${NATS_CONF_PATH}:ro`],
      restart: 'unless-stopped',
    },
    // the controller's part of a local lab's start: the buckets, before any service
    [BUCKETS_SERVICE]: {
      image: `\${VNETLAB_IMAGE:-${image}}`,
      command: ['vnetlab', 'nats-buckets'],
      environment: { VNETLAB_NATS_URL: natsUrl, VNETLAB_NATS_USER: CONTROLLER_USER, VNETLAB_NATS_PASSWORD: creds.controller.password },
      depends_on: { nats: { condition: 'service_started' } },
      restart: 'on-failure',
    },
  };
  for (const s of services) {
    const nu = natsUserOf(creds, s);
    const token = domainTokenOf(creds, s);
    svcs[s.id] = {
      image: `\${VNETLAB_IMAGE:-${image}}`,
      command: [s.kind],
      environment: {
        ...serviceEnv(s, natsUrl),
        ...(nu ? { VNETLAB_NATS_USER: nu.user, VNETLAB_NATS_PASSWORD: nu.password } : {}),
        ...(token !== undefined ? { VNETLAB_DOMAIN_TOKEN: token } : {}),
        // its gRPC control plane takes only this token (libs/runtime control_auth.ts)
        VNETLAB_CONTROL_TOKEN: controlTokenOf(creds, s),
        ...(s.kind === 'hypervisor' ? { VNETLAB_DOMAIN_TOKENS: DOMAIN_TOKENS_PATH } : {}),
      },
      volumes: [
        `./topology.yaml:${TOPOLOGY_PATH}:ro`,
        ...(s.host ? [`${memVolume(s.host)}:${MEM_DIR}`] : []),
        ...(s.kind === 'hypervisor' ? [`./credentials/${domainTokensFile(s.host!)}:${DOMAIN_TOKENS_PATH}:ro`] : []),
      ],
      depends_on: dependsOn(s, services),
      healthcheck: { test: ['CMD', ...healthCommand(s.httpPort)], interval: '2s', timeout: '2s', retries: 60 },
      restart: 'on-failure',
    };
  }
  svcs.prometheus = {
    image: PROMETHEUS_IMAGE,
    command: ['--config.file=/etc/prometheus/prometheus.yml', '--storage.tsdb.path=/prometheus', '--web.enable-lifecycle'],
    volumes: ['./prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro'],
    ports: ['9090:9090'],
  };
  svcs.grafana = {
    image: GRAFANA_IMAGE,
    environment: { GF_AUTH_ANONYMOUS_ENABLED: 'true', GF_AUTH_ANONYMOUS_ORG_ROLE: 'Viewer', GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH: '/var/lib/grafana/dashboards/overview.json' },
    volumes: ['./grafana/provisioning:/etc/grafana/provisioning:ro', './grafana/dashboards:/var/lib/grafana/dashboards:ro'],
    ports: ['3000:3000'],
    depends_on: ['prometheus'],
  };
  compose.services = svcs;
  // One volume per host on tmpfs: the host's RAM, shared by its hypervisor, NICs (DMA),
  // driver domain and guests exactly as one machine's CPUs and devices share its memory.
  compose.volumes = Object.fromEntries(topo.hosts.map((h) => [memVolume(h.name), { driver_opts: { type: 'tmpfs', device: 'tmpfs' } }]));

  const files: RenderedFiles = {
    'docker-compose.yml':
      `# Lab "${topo.name}" under docker compose. Generated by \`vnetlab render compose\`; do not edit.\n` +
      `# Build the image first (docker build -t ${image} . in the repository), then: docker-compose up -d\n` +
      `# Prometheus http://localhost:9090, Grafana http://localhost:3000. Lab files are in ${LAB_DIR} of each container.\n` +
      (creds.development ? devSecretComment('#') + '\n' : '') +
      toYaml(compose),
    'topology.yaml': topologyText,
    'nats/nats.conf': creds.natsConf,
    ...Object.fromEntries(topo.hosts.map((h) => [`credentials/${domainTokensFile(h.name)}`, domainTokensJson(creds, h.name) + '\n'])),
    // every service's control token, for the operator that calls them
    [`credentials/${CONTROL_TOKENS_FILE}`]: controlTokensJson(creds) + '\n',
    'prometheus/prometheus.yml': staticPrometheusConfig(
      services.map((s) => ({ address: `${s.id}:${s.httpPort}`, service: s.name, kind: s.kind })),
      `Prometheus for lab "${topo.name}" under docker compose: every service's /metrics by container name.`,
    ),
    'grafana/provisioning/datasources/prometheus.yml': grafanaDatasource('http://prometheus:9090'),
    'grafana/provisioning/dashboards/vnetlab.yml': grafanaDashboardProvider('/var/lib/grafana/dashboards'),
  };
  for (const [name, d] of Object.entries(dashboards())) files[`grafana/dashboards/${name}`] = dashboardJson(d);
  return files;
}
