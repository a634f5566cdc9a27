// The rendered kustomize base and every overlay build offline (kubectl kustomize), and every
// object they yield is valid against the Kubernetes schemas (kubernetes-models).
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { ConfigMap, Namespace, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { deployDir, run } from './deploy_kit.js';

type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; spec?: any };
const models: Record<string, new (o: any) => { validate(): void }> = {
  'v1/ConfigMap': ConfigMap, 'v1/Namespace': Namespace, 'v1/Secret': Secret, 'v1/Service': Service, 'v1/ServiceAccount': ServiceAccount,
  'apps/v1/Deployment': Deployment,
  'rbac.authorization.k8s.io/v1/Role': Role, 'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
};

const k8sDir = join(deployDir, 'kubernetes');
/** base, and overlays/<lab> for every overlay there is */
const builds = ['base', ...readdirSync(join(k8sDir, 'overlays')).map((o) => `overlays/${o}`)];
const built = new Map<string, Obj[]>();
let objs: Obj[] = [];

beforeAll(async () => {
  for (const b of builds) {
    const r = await run('kubectl', ['kustomize', join(k8sDir, b)]);
    if (r.code !== 0) throw new Error(`kubectl kustomize ${b} failed (${r.code}): ${r.stderr}`);
    built.set(b, parseAllDocuments(r.stdout).map((d) => d.toJSON() as Obj).filter(Boolean));
  }
  objs = built.get('overlays/two-hosts')!;
});

/** kustomize folds a long Secret value's base64 over lines; the API server's decoder skips the line breaks, the schema's "byte" format does not. */
const unfolded = (o: Obj) => (o.kind === 'Secret' ? { ...o, data: Object.fromEntries(Object.entries((o as any).data ?? {}).map(([k, v]) => [k, String(v).replace(/\s+/g, '')])) } : o);

const deploymentOf = (name: string) => objs.find((o) => o.kind === 'Deployment' && o.metadata.name === name)!;

describe('Kubernetes (deploy/kubernetes)', () => {
  it('kubectl kustomize builds the two-hosts overlay into every object the lab needs', () => {
    const names = objs.map((o) => `${o.kind}/${o.metadata.name}`);
    for (const n of ['Deployment/nats', 'Service/nats', 'Deployment/fabric', 'Deployment/host-a', 'Deployment/host-b', 'Service/host-a', 'Deployment/controller', 'Service/controller', 'Deployment/prometheus', 'Deployment/grafana', 'Namespace/vnetlab-two-hosts'])
      expect(names).toContain(n);
    expect(names.some((n) => n.startsWith('ConfigMap/vnetlab-topology-'))).toBe(true);
    for (const o of objs.filter((o) => o.kind !== 'Namespace')) expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe('vnetlab-two-hosts');
  });

  it.each(builds)('every object of %s validates against the Kubernetes schema of its kind', (b) => {
    const these = built.get(b)!;
    expect(these.length).toBeGreaterThan(b === 'base' ? 8 : 15);
    for (const o of these) {
      const M = models[`${o.apiVersion}/${o.kind}`];
      expect(M, `no model for ${o.apiVersion}/${o.kind}`).toBeDefined();
      expect(() => new M(unfolded(o)).validate(), `${b}: ${o.kind}/${o.metadata.name}`).not.toThrow();
    }
  });

  it('every overlay is a whole lab: the base, its hosts, the operator and the operator\'s table of them', () => {
    expect(builds.length).toBeGreaterThan(1);
    const baseNames = built.get('base')!.map((o) => `${o.kind}/${o.metadata.name}`);
    for (const b of builds.filter((x) => x !== 'base')) {
      const these = built.get(b)!;
      const names = these.map((o) => `${o.kind}/${o.metadata.name}`);
      for (const n of baseNames.filter((n) => !n.startsWith('ConfigMap/'))) expect(names, b).toContain(n);
      expect(names, b).toContain('Deployment/controller');
      const cm = these.find((o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('vnetlab-services-')) as Obj & { data: Record<string, string> };
      const table = JSON.parse(cm.data['services.json']) as { services: Array<{ name: string; grpcAddr: string; metricsUrl: string }> };
      // every address is a port of a Service of the overlay
      const ports = new Set(these.filter((o) => o.kind === 'Service').flatMap((o) => o.spec.ports.map((p: any) => `${o.metadata.name}:${p.port}`)));
      for (const r of table.services) {
        expect(ports, `${b}: ${r.name}`).toContain(r.grpcAddr);
        expect(ports, `${b}: ${r.name}`).toContain(r.metricsUrl.replace(/^http:\/\/|\/metrics$/g, ''));
      }
      const op = these.find((o) => o.kind === 'Deployment' && o.metadata.name === 'controller')!.spec.template.spec;
      expect(op.containers[0].args).toEqual(['operator']);
      expect(op.volumes.find((v: any) => v.name === 'services').configMap.name).toBe(cm.metadata.name);
      // the operator calls each service with that service's control token, from the overlay's Secret
      const tokens = op.volumes.find((v: any) => v.name === 'control-tokens').secret;
      const secret = these.find((o) => o.kind === 'Secret' && o.metadata.name === tokens.secretName) as Obj & { data: Record<string, string> };
      const file = JSON.parse(Buffer.from(secret.data[tokens.items[0].key], 'base64').toString('utf8')) as Record<string, string>;
      expect(Object.keys(file).sort(), b).toEqual(table.services.map((r) => r.name).sort());
    }
  });

  it('a host is one pod whose containers (hypervisor, NIC, driver domain, guests) share an in-memory emptyDir as machine memory', () => {
    for (const host of ['host-a', 'host-b']) {
      const spec = deploymentOf(host).spec.template.spec;
      const mem = spec.volumes.find((v: any) => v.name === 'machine-memory');
      expect(mem.emptyDir.medium).toBe('Memory');
      const kinds = spec.containers.map((c: any) => c.args[0]).sort();
      expect(kinds).toEqual(['driver-domain', 'guest', 'guest', 'hypervisor', 'nic']);
      for (const c of spec.containers) expect(c.volumeMounts.map((m: any) => m.name)).toContain('machine-memory');
      const ports = spec.containers.flatMap((c: any) => c.ports.map((p: any) => p.containerPort));
      expect(new Set(ports).size).toBe(ports.length);
    }
  });

  it('the topology reaches every vnetlab container through the generated ConfigMap', () => {
    const cm = objs.find((o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('vnetlab-topology-'))!;
    for (const name of ['fabric', 'host-a', 'host-b']) {
      const vol = deploymentOf(name).spec.template.spec.volumes.find((v: any) => v.name === 'topology');
      expect(vol.configMap.name).toBe(cm.metadata.name);
    }
  });

  it('NATS reads its users from the generated Secret; every vnetlab container has its user, its password and domain token by Secret reference', () => {
    const secretOf = (prefix: string) => objs.find((o) => o.kind === 'Secret' && o.metadata.name.startsWith(prefix)) as Obj & { data: Record<string, string> };
    const natsConfig = secretOf('nats-config-');
    const creds = secretOf('vnetlab-credentials-');
    const conf = Buffer.from(natsConfig.data['nats.conf'], 'base64').toString('utf8');
    const nats = deploymentOf('nats').spec.template.spec;
    expect(nats.containers[0].args.slice(0, 3)).toEqual(['nats-server', '-c', '/etc/nats/nats.conf']);
    expect(nats.containers[0].image).toBe('vnetlab:latest');
    expect(nats.volumes.find((v: any) => v.name === 'config').secret.secretName).toBe(natsConfig.metadata.name);
    for (const name of ['fabric', 'host-a', 'host-b']) {
      const spec = deploymentOf(name).spec.template.spec;
      // the buckets exist before any container of the pod starts
      expect(spec.initContainers.map((c: any) => c.args)).toEqual([['vnetlab', 'nats-buckets']]);
      for (const c of spec.containers) {
        const env = new Map<string, any>(c.env.map((e: any) => [e.name, e]));
        const user = env.get('VNETLAB_NATS_USER').value as string;
        const ref = env.get('VNETLAB_NATS_PASSWORD').valueFrom.secretKeyRef;
        expect(ref.name).toBe(creds.metadata.name);
        const password = Buffer.from(creds.data[ref.key], 'base64').toString('utf8');
        expect(conf, c.name).toContain(`{ user: ${JSON.stringify(user)}, password: ${JSON.stringify(password)}, permissions: { publish: { allow: [`);
        const kind = c.args[0];
        expect(env.has('VNETLAB_DOMAIN_TOKEN'), c.name).toBe(kind === 'guest' || kind === 'driver-domain');
        if (kind === 'hypervisor') {
          const tokens = spec.volumes.find((v: any) => v.name === 'domain-tokens').secret;
          expect(tokens.secretName).toBe(creds.metadata.name);
          const file = JSON.parse(Buffer.from(creds.data[tokens.items[0].key], 'base64').toString('utf8')) as Record<string, string>;
          const domains = spec.containers.filter((x: any) => x.args[0] === 'guest' || x.args[0] === 'driver-domain');
          for (const d of domains) {
            const key = d.env.find((e: any) => e.name === 'VNETLAB_DOMAIN_TOKEN').valueFrom.secretKeyRef.key;
            expect(Object.values(file), d.name).toContain(Buffer.from(creds.data[key], 'base64').toString('utf8'));
          }
          expect(Object.keys(file)).toHaveLength(domains.length);
        }
      }
    }
  });
});
