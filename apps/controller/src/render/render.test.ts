import { describe, expect, it } from 'vitest';
import { parseTopology } from '@vnetlab/topology';
import { containerServices } from './container_layout.js';
import { renderCompose } from './compose.js';
import { renderKubernetes } from './kubernetes.js';
import { dashboards } from './dashboards.js';
import { toYaml } from './yaml_text.js';

const text = `name: t1
hosts:
  - name: hx
    cpus: { count: 2, hz: 2.0e9 }
    memory_mib: 128
    driver_domain: { cpus: [0], memory_mib: 32, switch: bridge }
    nics:
      - { name: eth0, rate_bps: 1e9, queue_sets: 1, mac: "02:00:00:00:0c:01" }
    guests:
      - name: g1
        memory_mib: 16
        vcpus: [1]
        interfaces:
          - { arch: pv, mac: "00:16:3e:00:0c:01", ip: 10.0.0.9, rx_mode: copy, nic: eth0 }
links: []
`;
const topo = parseTopology(text, 't1.yaml');

describe('toYaml', () => {
  it('quotes strings YAML would read as something else, and keeps plain words plain', () => {
    const y = toYaml({ a: 'on', b: 'yes', c: '1e9', d: '-js', e: 'nats://n:4222', f: 'hypervisor', g: '', h: 'a: b' });
    expect(y).toBe('a: "on"\nb: "yes"\nc: "1e9"\nd: "-js"\ne: "nats://n:4222"\nf: hypervisor\ng: ""\nh: "a: b"\n');
  });

  it('writes a multi-line string as a literal block', () => {
    expect(toYaml({ f: 'x: 1\ny: 2\n' })).toBe('f: |\n  x: 1\n  y: 2\n');
  });

  it('refuses a number YAML cannot hold', () => {
    expect(() => toYaml({ n: Number.NaN })).toThrow(/cannot write/);
  });
});

describe('container layout', () => {
  it('gives every service distinct ports and its settings as VNETLAB_* variables', () => {
    const s = containerServices(topo, (hv, port) => `${hv}:${port}`);
    expect(s.map((x) => x.kind)).toEqual(['fabric', 'hypervisor', 'nic', 'driver-domain', 'guest']);
    expect(new Set(s.flatMap((x) => [x.httpPort, x.grpcPort])).size).toBe(10);
    const guest = s.find((x) => x.kind === 'guest')!;
    const hv = s.find((x) => x.kind === 'hypervisor')!;
    expect(guest.env).toMatchObject({ VNETLAB_HOST: 'hx', VNETLAB_GUEST: 'g1', VNETLAB_HYPERVISOR: `hx-hypervisor:${hv.grpcPort}` });
    expect(s.find((x) => x.kind === 'nic')!.env).toMatchObject({ VNETLAB_NIC: 'eth0', VNETLAB_MEM_DIR: '/vnetlab/mem' });
    expect(guest.env.VNETLAB_MEM_DIR).toBeUndefined();
  });
});

describe('renderers', () => {
  it('compose: one tmpfs volume per host, mounted by each of its services, and the topology shipped beside it', () => {
    const f = renderCompose(topo, text);
    expect(f['topology.yaml']).toBe(text);
    const c = f['docker-compose.yml'];
    expect(c).toMatch(/volumes:\n {2}mem-hx:\n {4}driver_opts:\n {6}type: tmpfs/);
    expect(c.match(/- "mem-hx:\/vnetlab\/mem"/g)).toHaveLength(4);
    expect(c).not.toMatch(/^name:/m);
  });

  it('k8s: one pod per host with an in-memory emptyDir, an overlay named after the lab', () => {
    const f = renderKubernetes(topo, text, { image: 'reg/vnetlab:1' });
    expect(Object.keys(f)).toEqual(expect.arrayContaining(['base/kustomization.yaml', 'overlays/t1/kustomization.yaml', 'overlays/t1/hx.yaml', 'overlays/t1/topology.yaml']));
    expect(f['overlays/t1/hx.yaml']).toMatch(/medium: Memory/);
    expect(f['overlays/t1/hx.yaml']).toMatch(/image: "reg\/vnetlab:1"/);
    expect(f['overlays/t1/kustomization.yaml']).toMatch(/namespace: vnetlab-t1/);
  });

  it('dashboards: every panel id is unique and every query names a vnetlab metric', () => {
    for (const d of Object.values(dashboards())) {
      expect(new Set(d.panels.map((p) => p.id)).size).toBe(d.panels.length);
      for (const p of d.panels) for (const t of p.targets ?? []) expect(t.expr).toMatch(/vnetlab_/);
    }
  });
});
