import { describe, expect, it } from 'vitest';
import { loadTopology } from '@vnetlab/topology';
import { fileURLToPath } from 'node:url';
import { DeployedLabError, deployedServices, healthzUrl, withControlTokens } from './deployed_lab.js';
import { planLab } from './plan.js';
import { renderCompose } from './render/compose.js';
import { renderKubernetes } from './render/kubernetes.js';

const topo = loadTopology(fileURLToPath(new URL('../../../examples/two-hosts.yaml', import.meta.url)));
const planned = planLab(topo).services;
const composeTable = renderCompose(topo, '')['operator/services.json'];
const rows = () => JSON.parse(composeTable).services as Array<Record<string, unknown>>;
const table = (r: unknown[]) => JSON.stringify({ services: r });
const refusal = (text: string) => {
  try {
    deployedServices(text, topo, planned);
  } catch (e) {
    expect(e).toBeInstanceOf(DeployedLabError);
    return (e as Error).message;
  }
  throw new Error('accepted');
};

describe('the operator\'s table of a deployed lab', () => {
  it('the rendered compose table names every planned service once, at its container\'s name and ports', () => {
    const s = deployedServices(composeTable, topo, planned);
    expect(s.map((x) => x.name)).toEqual(planned.map((p) => p.name));
    const b1 = s.find((x) => x.name === 'vm-b1')!;
    expect(b1).toMatchObject({ kind: 'guest', host: 'host-b', grpcAddr: 'vm-b1:50109', metricsUrl: 'http://vm-b1:9109/metrics', httpPort: 9109, grpcPort: 50109 });
    expect(healthzUrl(b1)).toBe('http://vm-b1:9109/healthz');
  });

  it('the Kubernetes table reaches a host\'s services through its pod\'s Service, the fabric through its own', () => {
    const files = renderKubernetes(topo, '');
    const s = deployedServices(files['overlays/two-hosts/services.json'], topo, planned);
    expect(s.find((x) => x.name === 'vm-b1')!.grpcAddr).toBe('host-b:50109');
    expect(s.find((x) => x.kind === 'fabric')!.metricsUrl).toBe('http://fabric:9100/metrics');
  });

  it('refuses a table that is not the lab\'s: missing, extra or doubled services, unknown kinds and hosts', () => {
    expect(refusal('{')).toMatch(/not JSON/);
    expect(refusal('{"services": {}}')).toMatch(/no "services" list/);
    expect(refusal(table(rows().slice(1)))).toMatch(/missing: fabric fabric/);
    expect(refusal(table([...rows(), { ...rows()[0], name: 'ghost' }]))).toMatch(/not in the topology: fabric ghost/);
    expect(refusal(table([...rows(), rows()[0]]))).toMatch(/listed twice/);
    expect(refusal(table(rows().map((r, i) => (i === 1 ? { ...r, kind: 'router' } : r))))).toMatch(/kind "router"/);
    expect(refusal(table(rows().map((r, i) => (i === 1 ? { ...r, host: 'host-z' } : r))))).toMatch(/no host "host-z"/);
    expect(refusal(table(rows().map((r, i) => (i === 1 ? { ...r, metricsUrl: 'http://x:1/stats' } : r))))).toMatch(/not http:\/\/HOST:PORT\/metrics/);
    expect(refusal(table(rows().map((r, i) => (i === 1 ? { ...r, grpcAddr: 'host-a-hypervisor' } : r))))).toMatch(/has no port/);
  });

  it('gives every service its control token from the rendered file, and refuses a file that lacks one', () => {
    const files = renderCompose(topo, '');
    const s = deployedServices(composeTable, topo, planned);
    withControlTokens(s, files['credentials/control-tokens.json']);
    const tokens = JSON.parse(files['credentials/control-tokens.json']) as Record<string, string>;
    for (const x of s) expect(x.controlToken, x.name).toBe(tokens[x.name]);
    const { 'vm-b2': _gone, ...short } = tokens;
    expect(() => withControlTokens(deployedServices(composeTable, topo, planned), JSON.stringify(short))).toThrow(/no control token for vm-b2/);
    expect(() => withControlTokens(s, '[]')).toThrow(/not a \{service: token\} object/);
  });
});
