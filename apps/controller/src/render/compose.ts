// `vnetlab render compose`: a lab as a docker compose project — NATS with JetStream, one
// container per service (the same image, the service kind as its command), the operator
// (`vnetlab` verbs through `docker-compose exec controller vnetlab ...`), one tmpfs volume
// per host holding that host's machine memory, Prometheus scraping every service, and
// Grafana with the data source and dashboards provisioned. NATS has one user per service
// with exactly its subjects (nats/nats.conf), and a one-shot `nats-buckets` container
// creates the KV buckets before any service starts.
import type { Topology } from '@vnetlab/topology';
import { CONTROLLER_USER, CREDENTIALS_DIR, DOMAIN_TOKENS_PATH, controlTokenOf, controlTokensJson, devSecretComment, domainTokenOf, domainTokensJson, labCredentials, natsUserOf } from './lab_credentials.js';
import {
  LAB_DIR, MEM_DIR, NATS_PORT, OPERATOR_GRPC_PORT, OPERATOR_HTTP_PORT, OPERATOR_ID, SERVICES_PATH, TOPOLOGY_PATH,
  containerServices, deployedServicesJson, dnsLabel, healthCommand, serviceEnv, type ContainerService,
} from './container_layout.js';
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
/** The lab's NATS runs from the vnetlab image too (Debian's nats-server, as a local lab's). */
export const NATS_COMMAND = 'nats-server';
export const NATS_STORE_DIR = '/vnetlab/nats';
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
/** Where the operator container finds it (VNETLAB_CONTROL_TOKENS). */
export const CONTROL_TOKENS_PATH = `${CREDENTIALS_DIR}/${CONTROL_TOKENS_FILE}`;

/** A host's domain credentials file (the hypervisor's --domain-tokens). */
export const domainTokensFile = (host: string) => `domain-tokens.${dnsLabel(host)}.json`;

export function renderCompose(topo: Topology, topologyText: string, opts: RenderOptions = {}): RenderedFiles {
  const image = opts.image ?? DEFAULT_IMAGE;
  const natsUrl = `nats://nats:${NATS_PORT}`;
  const services = containerServices(topo, (hv, port) => `${hv}:${port}`);
  const creds = labCredentials(topo, opts.secret);
  const compose: Record<string, unknown> = {};
  const vnetlabImage = `\${VNETLAB_IMAGE:-${image}}`;
  const healthcheck = (port: number) => ({ test: ['CMD', ...healthCommand(port)], interval: '2s', timeout: '2s', retries: 60 });
  const svcs: Record<string, unknown> = {
    nats: {
      image: vnetlabImage,
      command: [NATS_COMMAND, '-c', NATS_CONF_PATH, '-js', '-sd', NATS_STORE_DIR, '-m', '8222'],
      volumes: [`./nats/nats.conf:${NATS_CONF_PATH}:ro`],
      restart: 'unless-stopped',
    },
    // the controller's part of a local lab's start: the buckets, before any service
    [BUCKETS_SERVICE]: {
      image: vnetlabImage,
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
      image: vnetlabImage,
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
      healthcheck: healthcheck(s.httpPort),
      restart: 'on-failure',
    };
  }
  // the operator API over the containers above; the CLI runs beside it (docker-compose exec)
  svcs[OPERATOR_ID] = {
    image: vnetlabImage,
    command: ['operator'],
    environment: {
      VNETLAB_NAME: 'controller',
      VNETLAB_TOPOLOGY: TOPOLOGY_PATH,
      VNETLAB_SERVICES: SERVICES_PATH,
      VNETLAB_CONTROL_TOKENS: CONTROL_TOKENS_PATH,
      VNETLAB_NATS_URL: natsUrl,
      VNETLAB_NATS_USER: CONTROLLER_USER,
      VNETLAB_NATS_PASSWORD: creds.controller.password,
      VNETLAB_BIND: '0.0.0.0',
      VNETLAB_HTTP_PORT: String(OPERATOR_HTTP_PORT),
      VNETLAB_GRPC_PORT: String(OPERATOR_GRPC_PORT),
      VNETLAB_LAB_DIR: LAB_DIR,
    },
    volumes: [`./topology.yaml:${TOPOLOGY_PATH}:ro`, `./operator/services.json:${SERVICES_PATH}:ro`, `./credentials/${CONTROL_TOKENS_FILE}:${CONTROL_TOKENS_PATH}:ro`],
    depends_on: { nats: { condition: 'service_started' }, [BUCKETS_SERVICE]: { condition: 'service_completed_successfully' } },
    healthcheck: healthcheck(OPERATOR_HTTP_PORT),
    restart: 'on-failure',
  };
  // Prometheus and Grafana images can be replaced (VNETLAB_PROMETHEUS_IMAGE: one built from
  // Debian's package by deploy/docker/prometheus.Dockerfile), and their host ports moved.
  svcs.prometheus = {
    image: `\${VNETLAB_PROMETHEUS_IMAGE:-${PROMETHEUS_IMAGE}}`,
    command: ['--config.file=/etc/prometheus/prometheus.yml', '--storage.tsdb.path=/prometheus', '--web.enable-lifecycle'],
    volumes: ['./prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro'],
    ports: ['${VNETLAB_PROMETHEUS_PORT:-9090}:9090'],
  };
  svcs.grafana = {
    image: `\${VNETLAB_GRAFANA_IMAGE:-${GRAFANA_IMAGE}}`,
    environment: { GF_AUTH_ANONYMOUS_ENABLED: 'true', GF_AUTH_ANONYMOUS_ORG_ROLE: 'Viewer', GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH: '/var/lib/grafana/dashboards/overview.json' },
    volumes: ['./grafana/provisioning:/etc/grafana/provisioning:ro', './grafana/dashboards:/var/lib/grafana/dashboards:ro'],
    ports: ['${VNETLAB_GRAFANA_PORT:-3000}:3000'],
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
      `# Drive the lab with the CLI in the operator's container: docker-compose exec ${OPERATOR_ID} vnetlab status\n` +
      `# Prometheus http://localhost:9090, Grafana http://localhost:3000. Lab files are in ${LAB_DIR} of each container.\n` +
      (creds.development ? devSecretComment('#') + '\n' : '') +
      toYaml(compose),
    'topology.yaml': topologyText,
    'nats/nats.conf': creds.natsConf,
    'operator/services.json': deployedServicesJson(services, (s) => s.id),
    ...Object.fromEntries(topo.hosts.map((h) => [`credentials/${domainTokensFile(h.name)}`, domainTokensJson(creds, h.name) + '\n'])),
    // every service's control token, for the operator that calls them
    [`credentials/${CONTROL_TOKENS_FILE}`]: controlTokensJson(creds) + '\n',
    'prometheus/prometheus.yml': staticPrometheusConfig(
      [
        ...services.map((s) => ({ address: `${s.id}:${s.httpPort}`, service: s.name, kind: s.kind })),
        { address: `${OPERATOR_ID}:${OPERATOR_HTTP_PORT}`, service: 'controller', kind: 'controller' },
      ],
      `Prometheus for lab "${topo.name}" under docker compose: every service's /metrics by container name.`,
    ),
    'grafana/provisioning/datasources/prometheus.yml': grafanaDatasource('http://prometheus:9090'),
    'grafana/provisioning/dashboards/vnetlab.yml': grafanaDashboardProvider('/var/lib/grafana/dashboards'),
  };
  for (const [name, d] of Object.entries(dashboards())) files[`grafana/dashboards/${name}`] = dashboardJson(d);
  return files;
}
