// The rendered compose project is one docker-compose accepts, and it wires every service of
// the lab the way the local launcher does.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { deployDir, run } from './deploy_kit.js';

const dir = join(deployDir, 'compose');
type Svc = { image?: string; command?: string[]; environment?: Record<string, string>; volumes?: string[]; depends_on?: Record<string, unknown> };
const compose = parse(readFileSync(join(dir, 'docker-compose.yml'), 'utf8')) as { services: Record<string, Svc>; volumes: Record<string, { driver_opts: Record<string, string> }> };

describe('docker compose (deploy/compose)', () => {
  it('docker-compose config -q accepts the file', async () => {
    const r = await run('docker-compose', ['-f', 'docker-compose.yml', 'config', '-q'], { cwd: dir });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('prometheus accepts its configuration (promtool)', async () => {
    const r = await run('promtool', ['check', 'config', join(dir, 'prometheus/prometheus.yml')]);
    expect(r.stdout + r.stderr).toMatch(/SUCCESS/);
    expect(r.code).toBe(0);
  });

  it('NATS runs from the vnetlab image with JetStream and the rendered users, next to Prometheus and Grafana', () => {
    expect(compose.services.nats.image).toBe('${VNETLAB_IMAGE:-vnetlab:latest}');
    expect(compose.services.nats.command).toContain('-js');
    expect(compose.services.nats.command!.slice(0, 3)).toEqual(['nats-server', '-c', '/etc/nats/nats.conf']);
    expect(compose.services.nats.volumes).toContain('./nats/nats.conf:/etc/nats/nats.conf:ro');
    expect(compose.services.prometheus).toBeDefined();
    expect(compose.services.grafana).toBeDefined();
  });

  it('the services of one host share one tmpfs volume of machine memory, mounted as their mem dir', () => {
    for (const host of ['host-a', 'host-b']) {
      const vol = `mem-${host}`;
      expect(compose.volumes[vol].driver_opts.type).toBe('tmpfs');
      const users = Object.entries(compose.services).filter(([, s]) => s.environment?.VNETLAB_HOST === host);
      expect(users.map(([, s]) => s.command![0]).sort()).toEqual(['driver-domain', 'guest', 'guest', 'hypervisor', 'nic']);
      for (const [, s] of users) expect(s.volumes).toContain(`${vol}:/vnetlab/mem`);
      for (const [, s] of users.filter(([, s]) => ['hypervisor', 'nic'].includes(s.command![0]))) expect(s.environment!.VNETLAB_MEM_DIR).toBe('/vnetlab/mem');
    }
  });

  it('driver domains and guests reach their own host\'s hypervisor, and start after it', () => {
    const hvOf = (host: string) => Object.entries(compose.services).find(([, s]) => s.command?.[0] === 'hypervisor' && s.environment?.VNETLAB_HOST === host)!;
    for (const [, s] of Object.entries(compose.services).filter(([, s]) => s.command?.[0] === 'guest' || s.command?.[0] === 'driver-domain')) {
      const [id, hv] = hvOf(s.environment!.VNETLAB_HOST);
      expect(s.environment!.VNETLAB_HYPERVISOR).toBe(`${id}:${hv.environment!.VNETLAB_GRPC_PORT}`);
    }
    expect(Object.keys(compose.services['host-a-dom0'].depends_on!)).toEqual(expect.arrayContaining(['host-a-hypervisor', 'host-a-eth0']));
    expect(Object.keys(compose.services['vm-a1'].depends_on!)).toContain('host-a-dom0');
  });

  it('Prometheus scrapes every vnetlab service by container name and port', () => {
    const prom = parse(readFileSync(join(dir, 'prometheus/prometheus.yml'), 'utf8')) as { scrape_configs: Array<{ static_configs: Array<{ targets: string[] }> }> };
    const targets = prom.scrape_configs[0].static_configs.flatMap((c) => c.targets).sort();
    const want = Object.entries(compose.services).filter(([, s]) => s.environment?.VNETLAB_HTTP_PORT).map(([id, s]) => `${id}:${s.environment!.VNETLAB_HTTP_PORT}`).sort();
    expect(targets).toEqual(want);
    // the 11 services of the lab and the operator
    expect(targets).toHaveLength(12);
    expect(targets).toContain('controller:9099');
  });
  it('every vnetlab service waits for the one-shot nats-buckets container and has its own NATS user', () => {
    expect(compose.services['nats-buckets'].command).toEqual(['vnetlab', 'nats-buckets']);
    const vnetlabServices = Object.entries(compose.services).filter(([, s]) => s.environment?.VNETLAB_HTTP_PORT);
    expect(vnetlabServices).toHaveLength(12);
    const users = new Set<string>();
    for (const [id, s] of vnetlabServices) {
      expect(s.depends_on!['nats-buckets'], id).toEqual({ condition: 'service_completed_successfully' });
      users.add(s.environment!.VNETLAB_NATS_USER);
      expect(s.environment!.VNETLAB_NATS_PASSWORD, id).toMatch(/^[0-9a-f]{24}$/);
    }
    expect(users.size).toBe(12);
  });

  it('the operator runs from the image over the table of every service at its container name and ports', () => {
    const op = compose.services.controller;
    expect(op.command).toEqual(['operator']);
    expect(op.volumes).toContain('./operator/services.json:/etc/vnetlab-operator/services.json:ro');
    expect(op.environment!.VNETLAB_SERVICES).toBe('/etc/vnetlab-operator/services.json');
    expect(op.environment!.VNETLAB_NATS_USER).toBe('controller');
    const table = JSON.parse(readFileSync(join(dir, 'operator/services.json'), 'utf8')) as { services: Array<{ name: string; grpcAddr: string; metricsUrl: string }> };
    const lab = Object.entries(compose.services).filter(([id, s]) => s.environment?.VNETLAB_HTTP_PORT && id !== 'controller');
    expect(table.services).toHaveLength(lab.length);
    for (const [id, s] of lab) {
      const row = table.services.find((r) => r.name === s.environment!.VNETLAB_NAME)!;
      expect(row.grpcAddr, id).toBe(`${id}:${s.environment!.VNETLAB_GRPC_PORT}`);
      expect(row.metricsUrl, id).toBe(`http://${id}:${s.environment!.VNETLAB_HTTP_PORT}/metrics`);
    }
  });
});
