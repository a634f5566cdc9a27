// The rendered kustomize base + overlay builds offline, and every object it yields is valid
// against the Kubernetes schemas (kubernetes-models).
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

let objs: Obj[] = [];

beforeAll(async () => {
  const r = await run('kubectl', ['kustomize', join(deployDir, 'kubernetes/overlays/two-hosts')]);
  if (r.code !== 0) throw new Error(`kubectl kustomize failed (${r.code}): ${r.stderr}`);
  objs = parseAllDocuments(r.stdout).map((d) => d.toJSON() as Obj).filter(Boolean);
});

const deploymentOf = (name: string) => objs.find((o) => o.kind === 'Deployment' && o.metadata.name === name)!;

describe('Kubernetes (deploy/kubernetes)', () => {
  it('kubectl kustomize builds the two-hosts overlay into every object the lab needs', () => {
    const names = objs.map((o) => `${o.kind}/${o.metadata.name}`);
    for (const n of ['Deployment/nats', 'Service/nats', 'Deployment/fabric', 'Deployment/host-a', 'Deployment/host-b', 'Service/host-a', 'Deployment/prometheus', 'Deployment/grafana', 'Namespace/vnetlab-two-hosts'])
      expect(names).toContain(n);
    expect(names.some((n) => n.startsWith('ConfigMap/vnetlab-topology-'))).toBe(true);
    for (const o of objs.filter((o) => o.kind !== 'Namespace')) expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe('vnetlab-two-hosts');
  });

  it('every object validates against the Kubernetes schema of its kind', () => {
    expect(objs.length).toBeGreaterThan(15);
    for (const o of objs) {
      const M = models[`${o.apiVersion}/${o.kind}`];
      expect(M, `no model for ${o.apiVersion}/${o.kind}`).toBeDefined();
      // kustomize folds a long Secret value's base64 over lines; the API server's decoder
      // skips the line breaks, the schema's "byte" format does not
      const obj = o.kind === 'Secret' ? { ...o, data: Object.fromEntries(Object.entries((o as any).data ?? {}).map(([k, v]) => [k, String(v).replace(/\s+/g, '')])) } : o;
      expect(() => new M(obj).validate(), `${o.kind}/${o.metadata.name}`).not.toThrow();
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
    expect(nats.containers[0].args.slice(0, 2)).toEqual(['-c', '/etc/nats/nats.conf']);
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
