// The rendered compose project run for real: `docker-compose up -d` on deploy/compose with the
// vnetlab image, every service healthy, a ping between guests of two hosts through the
// deployed operator, Prometheus (in the project) scraping every target up, then `down`.
// It needs a Docker engine and the image (docker build -t vnetlab .); without either it is
// skipped and says why (VNETLAB_REQUIRE_DOCKER=1 makes that a failure, for CI with Docker).
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GRAFANA_IMAGE, PROMETHEUS_IMAGE } from '@vnetlab/app-controller';
import { freePort } from '@vnetlab/runtime';
import { deployDir, dockerMissing, imagePresent, run, vnetlabImage as image } from './deploy_kit.js';

const dir = join(deployDir, 'compose');
const LOCAL_PROMETHEUS = 'vnetlab-prometheus:latest';
const project = `vnetlabtest${process.pid}`;

const why = await dockerMissing('test/deploy/compose_up.test.ts', true);

let env: NodeJS.ProcessEnv = {};
let promPort = 0;
const services: string[] = [];

const compose = (args: string[], timeoutMs = 60_000) => run('docker-compose', ['-p', project, ...args], { cwd: dir, timeoutMs, env });

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** Prometheus: the upstream image if this machine has it, else one from Debian's package. */
async function prometheusImage(): Promise<string> {
  if (process.env.VNETLAB_PROMETHEUS_IMAGE) return process.env.VNETLAB_PROMETHEUS_IMAGE;
  if (await imagePresent(PROMETHEUS_IMAGE)) return PROMETHEUS_IMAGE;
  if (!(await imagePresent(LOCAL_PROMETHEUS))) {
    const b = await run('docker', ['build', '-q', '-t', LOCAL_PROMETHEUS, '-f', join(deployDir, 'docker/prometheus.Dockerfile'), join(deployDir, 'docker')], { timeoutMs: 600_000 });
    if (b.code !== 0) throw new Error(`building ${LOCAL_PROMETHEUS} failed: ${b.stderr}`);
  }
  return LOCAL_PROMETHEUS;
}

beforeAll(async () => {
  if (why) return;
  promPort = await freePort();
  env = {
    ...process.env,
    VNETLAB_IMAGE: image,
    VNETLAB_PROMETHEUS_IMAGE: await prometheusImage(),
    VNETLAB_PROMETHEUS_PORT: String(promPort),
    VNETLAB_GRAFANA_PORT: String(await freePort()),
  };
  const all = (await compose(['config', '--services'])).stdout.trim().split('\n');
  // Grafana only where its image is (it is not in Debian); its dashboards are tested against a real Prometheus elsewhere
  const withGrafana = await imagePresent(GRAFANA_IMAGE);
  if (!withGrafana) console.warn(`compose_up: no image ${GRAFANA_IMAGE} on this machine; Grafana is left out of this run`);
  services.push(...all.filter((s) => withGrafana || s !== 'grafana'));
  const up = await compose(['up', '-d', ...services], 300_000);
  if (up.code !== 0) throw new Error(`docker-compose up failed (${up.code}): ${up.stderr}`);
}, 900_000);

afterAll(async () => {
  if (why) return;
  const down = await compose(['down', '-v', '--timeout', '5'], 120_000);
  expect(down.code, down.stderr).toBe(0);
  const left = await run('docker', ['ps', '-aq', '--filter', `label=com.docker.compose.project=${project}`]);
  expect(left.stdout.trim(), 'containers left after down').toBe('');
}, 180_000);

describe.skipIf(!!why)(`docker-compose up of deploy/compose${why ? ` (skipped: ${why})` : ''}`, () => {
  it('every container with a health check becomes healthy; nats-buckets has run and exited 0', async () => {
    const states = await until('every service healthy', async () => {
      const ids = (await compose(['ps', '-q'])).stdout.trim().split('\n').filter(Boolean);
      const r = await run('docker', ['inspect', '--format', '{{index .Config.Labels "com.docker.compose.service"}} {{.State.Status}} {{.State.ExitCode}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}', ...ids]);
      const rows = r.stdout.trim().split('\n').map((l) => l.split(' '));
      const unhealthy = rows.filter(([, , , h]) => h !== 'none' && h !== 'healthy');
      if (unhealthy.length === 0 && rows.length === services.length) return rows;
      // what the timeout reports if it never gets there
      throw new Error(`${rows.length} of ${services.length} containers; not healthy: ${unhealthy.map((x) => x.join(' ')).join(', ') || 'none'} ${r.stderr}`);
    }, 180_000);
    const byName = new Map(states.map(([name, ...rest]) => [name, rest]));
    expect([...byName.keys()].sort()).toEqual([...services].sort());
    expect(byName.get('nats-buckets')!.slice(0, 2)).toEqual(['exited', '0']);
    const vnetlabServices = states.filter(([, , , h]) => h === 'healthy').map(([n]) => n);
    // 11 lab services and the operator
    expect(vnetlabServices).toHaveLength(12);
    expect(vnetlabServices).toContain('controller');
  }, 240_000);

  it('the CLI beside the operator sees every service healthy, and vm-a1 pings vm-b1 across the fabric', async () => {
    const status = await until('vnetlab status', async () => {
      const r = await compose(['exec', '-T', 'controller', 'vnetlab', 'status', '--json']);
      if (r.code !== 0) throw new Error(r.stderr);
      return JSON.parse(r.stdout) as { services: Array<{ name: string; healthy: boolean; grpcAddr: string }> };
    }, 60_000);
    expect(status.services).toHaveLength(11);
    for (const s of status.services) expect(s.healthy, s.name).toBe(true);
    expect(status.services.find((s) => s.name === 'vm-b1')!.grpcAddr).toBe('vm-b1:50109');

    const r = await compose(['exec', '-T', 'controller', 'vnetlab', 'ping', 'vm-a1', 'vm-b1', '--count', '3', '--json'], 120_000);
    expect(r.code, r.stderr).toBe(0);
    const ping = JSON.parse(r.stdout) as { sent: number; received: number; replies: Array<{ ok: boolean; rttNs: number }> };
    expect(ping.sent).toBe(3);
    expect(ping.received).toBe(3);
    for (const p of ping.replies) expect(p.rttNs).toBeGreaterThan(0);
  });

  it('the operator refuses `vnetlab down` and says where the lab is stopped', async () => {
    const r = await compose(['exec', '-T', 'controller', 'vnetlab', 'down']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/runs as containers: stop it with docker-compose down/);
    // and nothing was stopped: the operator still answers, every service with it
    const status = await compose(['exec', '-T', 'controller', 'vnetlab', 'status', '--json']);
    expect(status.code, status.stderr).toBe(0);
    const services = (JSON.parse(status.stdout) as { services: Array<{ healthy: boolean }> }).services;
    expect(services.filter((s) => s.healthy)).toHaveLength(11);
  });

  it('Prometheus in the project scrapes every service and the operator, all up', async () => {
    type Target = { health: string; labels: Record<string, string>; lastError: string };
    const targets = await until('every target up', async () => {
      const body = (await (await fetch(`http://127.0.0.1:${promPort}/api/v1/targets`)).json()) as { data: { activeTargets: Target[] } };
      const t = body.data.activeTargets;
      return t.length === 12 && t.every((x) => x.health === 'up') ? t : undefined;
    }, 90_000);
    const names = targets.map((t) => t.labels.vnetlab_service).sort();
    expect(names).toEqual(['controller', 'fabric', 'host-a/dom0', 'host-a/eth0', 'host-a/hypervisor', 'host-b/dom0', 'host-b/eth0', 'host-b/hypervisor', 'vm-a1', 'vm-a2', 'vm-b1', 'vm-b2']);
    // and it stores what they say: the guests' modelled time has advanced
    const q = (await (await fetch(`http://127.0.0.1:${promPort}/api/v1/query?${new URLSearchParams({ query: 'vnetlab_modelled_time_seconds' })}`)).json()) as { data: { result: unknown[] } };
    expect(q.data.result.length).toBeGreaterThan(0);
  });
});
