// `vnetlab render k8s`: a lab on Kubernetes as a kustomize base (NATS, the fabric,
// Prometheus, Grafana: the same for every lab) and an overlay per topology (one pod per
// modelled host, the topology ConfigMap, the namespace).
import type { Topology } from '@vnetlab/topology';
import { DEFAULT_IMAGE, GRAFANA_IMAGE, NATS_IMAGE, PROMETHEUS_IMAGE, type RenderOptions, type RenderedFiles } from './compose.js';
import { LAB_DIR, MEM_DIR, NATS_PORT, TOPOLOGY_PATH, containerServices, dnsLabel, serviceEnv, type ContainerService } from './container_layout.js';
import { dashboardJson, dashboards } from './dashboards.js';
import { grafanaDashboardProvider, grafanaDatasource } from './grafana_provisioning.js';
import { kubernetesPrometheusConfig } from './prometheus_config.js';
import { toYaml, toYamlStream } from './yaml_text.js';

const PART_OF = { 'app.kubernetes.io/part-of': 'vnetlab' };
const TOPOLOGY_CM = 'vnetlab-topology';
const NATS_URL = `nats://nats:${NATS_PORT}`;

const labels = (name: string, component: string) => ({ 'app.kubernetes.io/name': name, 'app.kubernetes.io/component': component, ...PART_OF });
const selector = (name: string) => ({ 'app.kubernetes.io/name': name });

function deployment(name: string, component: string, spec: Record<string, unknown>, comment?: string): Record<string, unknown> {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, labels: labels(name, component), ...(comment ? { annotations: { 'vnetlab.io/why': comment } } : {}) },
    spec: {
      replicas: 1,
      // a lab's service is one process with state: never two of it at once
      strategy: { type: 'Recreate' },
      selector: { matchLabels: selector(name) },
      template: { metadata: { labels: labels(name, component) }, spec },
    },
  };
}

function service(name: string, component: string, ports: Array<{ name: string; port: number }>): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, labels: labels(name, component) },
    spec: { selector: selector(name), ports: ports.map((p) => ({ name: p.name, port: p.port, targetPort: p.port })) },
  };
}

function serviceContainer(s: ContainerService, image: string, i: number): Record<string, unknown> {
  const env = serviceEnv(s, NATS_URL);
  return {
    name: s.id,
    image,
    imagePullPolicy: 'IfNotPresent',
    args: [s.kind],
    env: Object.entries(env).map(([name, value]) => ({ name, value })),
    // port names are at most 15 characters and unique in a pod; Prometheus keeps http-*
    ports: [
      { name: `http-${i}`, containerPort: s.httpPort },
      { name: `grpc-${i}`, containerPort: s.grpcPort },
    ],
    readinessProbe: { httpGet: { path: '/healthz', port: s.httpPort }, periodSeconds: 2, failureThreshold: 3 },
    volumeMounts: [
      { name: 'topology', mountPath: '/etc/vnetlab', readOnly: true },
      ...(s.host ? [{ name: 'machine-memory', mountPath: MEM_DIR }] : []),
      { name: 'lab', mountPath: LAB_DIR },
    ],
  };
}

const topologyVolume = { name: 'topology', configMap: { name: TOPOLOGY_CM, items: [{ key: 'topology.yaml', path: TOPOLOGY_PATH.split('/').pop()! }] } };

function base(image: string, fabric: ContainerService): RenderedFiles {
  const i = 0;
  const nats = [
    deployment('nats', 'bus', {
      containers: [{
        name: 'nats',
        image: NATS_IMAGE,
        args: ['-js', '-sd', '/data', '-m', '8222'],
        ports: [{ name: 'client', containerPort: NATS_PORT }, { name: 'monitor', containerPort: 8222 }],
        volumeMounts: [{ name: 'data', mountPath: '/data' }],
      }],
      volumes: [{ name: 'data', emptyDir: {} }],
    }),
    service('nats', 'bus', [{ name: 'client', port: NATS_PORT }]),
  ];
  const fabricObjs = [
    deployment('fabric', 'fabric', {
      containers: [serviceContainer(fabric, image, i)],
      volumes: [topologyVolume, { name: 'lab', emptyDir: {} }],
    }),
    service('fabric', 'fabric', [{ name: 'http', port: fabric.httpPort }, { name: 'grpc', port: fabric.grpcPort }]),
  ];
  const prometheus = [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'prometheus', labels: labels('prometheus', 'monitoring') } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'prometheus', labels: labels('prometheus', 'monitoring') },
      rules: [{ apiGroups: [''], resources: ['pods', 'services', 'endpoints'], verbs: ['get', 'list', 'watch'] }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'prometheus', labels: labels('prometheus', 'monitoring') },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'prometheus' },
      subjects: [{ kind: 'ServiceAccount', name: 'prometheus' }],
    },
    deployment('prometheus', 'monitoring', {
      serviceAccountName: 'prometheus',
      containers: [{
        name: 'prometheus',
        image: PROMETHEUS_IMAGE,
        args: ['--config.file=/etc/prometheus/prometheus.yml', '--storage.tsdb.path=/prometheus'],
        ports: [{ name: 'web', containerPort: 9090 }],
        volumeMounts: [{ name: 'config', mountPath: '/etc/prometheus' }, { name: 'data', mountPath: '/prometheus' }],
      }],
      volumes: [{ name: 'config', configMap: { name: 'prometheus-config' } }, { name: 'data', emptyDir: {} }],
    }),
    service('prometheus', 'monitoring', [{ name: 'web', port: 9090 }]),
  ];
  const grafana = [
    deployment('grafana', 'monitoring', {
      containers: [{
        name: 'grafana',
        image: GRAFANA_IMAGE,
        env: [
          { name: 'GF_AUTH_ANONYMOUS_ENABLED', value: 'true' },
          { name: 'GF_AUTH_ANONYMOUS_ORG_ROLE', value: 'Viewer' },
          { name: 'GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH', value: '/var/lib/grafana/dashboards/overview.json' },
        ],
        ports: [{ name: 'web', containerPort: 3000 }],
        volumeMounts: [
          { name: 'datasources', mountPath: '/etc/grafana/provisioning/datasources' },
          { name: 'providers', mountPath: '/etc/grafana/provisioning/dashboards' },
          { name: 'dashboards', mountPath: '/var/lib/grafana/dashboards' },
        ],
      }],
      volumes: [
        { name: 'datasources', configMap: { name: 'grafana-datasources' } },
        { name: 'providers', configMap: { name: 'grafana-dashboard-providers' } },
        { name: 'dashboards', configMap: { name: 'grafana-dashboards' } },
      ],
    }),
    service('grafana', 'monitoring', [{ name: 'web', port: 3000 }]),
  ];
  const names = Object.keys(dashboards());
  const files: RenderedFiles = {
    'base/kustomization.yaml':
      '# The part of a vnetlab deployment that is the same for every lab. An overlay adds the\n' +
      `# hosts of one topology and the ConfigMap "${TOPOLOGY_CM}" the services read. Generated by \`vnetlab render k8s\`.\n` +
      toYaml({
        apiVersion: 'kustomize.config.k8s.io/v1beta1',
        kind: 'Kustomization',
        resources: ['nats.yaml', 'fabric.yaml', 'prometheus.yaml', 'grafana.yaml'],
        configMapGenerator: [
          { name: 'prometheus-config', files: ['prometheus/prometheus.yml'] },
          { name: 'grafana-datasources', files: ['grafana/datasources/prometheus.yml'] },
          { name: 'grafana-dashboard-providers', files: ['grafana/providers/vnetlab.yml'] },
          { name: 'grafana-dashboards', files: names.map((n) => `grafana/dashboards/${n}`) },
        ],
      }),
    'base/nats.yaml': '# The message bus: NATS with JetStream (xenstore lives in its KV).\n' + toYamlStream(nats),
    'base/fabric.yaml': '# The physical network between the hosts.\n' + toYamlStream(fabricObjs),
    'base/prometheus.yaml': '# Prometheus, discovering every vnetlab pod of its namespace (hence the Role to list pods).\n' + toYamlStream(prometheus),
    'base/grafana.yaml': '# Grafana with the Prometheus data source and the vnetlab dashboards provisioned.\n' + toYamlStream(grafana),
    'base/prometheus/prometheus.yml': kubernetesPrometheusConfig(),
    'base/grafana/datasources/prometheus.yml': grafanaDatasource('http://prometheus:9090'),
    'base/grafana/providers/vnetlab.yml': grafanaDashboardProvider('/var/lib/grafana/dashboards'),
  };
  for (const [name, d] of Object.entries(dashboards())) files[`base/grafana/dashboards/${name}`] = dashboardJson(d);
  return files;
}

function hostObjects(topo: Topology, host: Topology['hosts'][number], services: ContainerService[], all: ContainerService[], image: string): unknown[] {
  const name = dnsLabel(host.name);
  const containers = services.map((s) => serviceContainer(s, image, all.indexOf(s)));
  const deploy = deployment(name, 'host', {
    containers,
    volumes: [
      topologyVolume,
      // The physical machine: its RAM is one tmpfs shared by every container of the pod, as
      // one host's CPUs and DMA engines share its memory. The hypervisor keeps the frame
      // table and the grant tables in it; NICs DMA into it; the domains' pages are in it.
      { name: 'machine-memory', emptyDir: { medium: 'Memory', sizeLimit: `${host.memory_mib + 64}Mi` } },
      { name: 'lab', emptyDir: {} },
    ],
  }, `one pod is one physical host of lab ${topo.name}: its hypervisor, NICs, driver domain and guests share its machine memory`);
  const svc = service(name, 'host', services.flatMap((s) => {
    const i = all.indexOf(s);
    return [{ name: `http-${i}`, port: s.httpPort }, { name: `grpc-${i}`, port: s.grpcPort }];
  }));
  return [deploy, svc];
}

export function renderKubernetes(topo: Topology, topologyText: string, opts: RenderOptions = {}): RenderedFiles {
  const image = opts.image ?? DEFAULT_IMAGE;
  // Within a host's pod the hypervisor is on the loopback of the pod's own network namespace.
  const all = containerServices(topo, (_hv, port) => `127.0.0.1:${port}`);
  const fabric = all.find((s) => s.kind === 'fabric')!;
  const files = base(image, fabric);
  const overlay = `overlays/${dnsLabel(topo.name)}`;
  const hostFiles: string[] = [];
  for (const h of topo.hosts) {
    const f = `${dnsLabel(h.name)}.yaml`;
    hostFiles.push(f);
    files[`${overlay}/${f}`] =
      `# Host ${h.name} of lab ${topo.name}: one pod, one container per service of the host.\n` +
      toYamlStream(hostObjects(topo, h, all.filter((s) => s.host === h.name), all, image));
  }
  const namespace = `vnetlab-${dnsLabel(topo.name)}`.slice(0, 63);
  files[`${overlay}/namespace.yaml`] = toYaml({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace, labels: PART_OF } });
  files[`${overlay}/topology.yaml`] = topologyText;
  files[`${overlay}/kustomization.yaml`] =
    `# Lab "${topo.name}" on Kubernetes: kubectl apply -k ${overlay}. Generated by \`vnetlab render k8s\`.\n` +
    toYaml({
      apiVersion: 'kustomize.config.k8s.io/v1beta1',
      kind: 'Kustomization',
      namespace,
      // `bases` rather than a directory in `resources`: kubectl 1.20 (Debian's, kustomize 2.0)
      // reads only that; newer kustomize reads it too
      bases: ['../../base'],
      resources: ['namespace.yaml', ...hostFiles],
      configMapGenerator: [{ name: TOPOLOGY_CM, files: ['topology.yaml'] }],
    });
  return files;
}
