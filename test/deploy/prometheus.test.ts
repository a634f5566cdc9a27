// `vnetlab up --with-prometheus`: a real lab and Debian's prometheus scraping every service;
// after a bulk transfer every dashboard panel's query has data.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT_METRICS, VSWITCH_METRICS } from '@vnetlab/app-controller';
import { alive, example, startLab, vnetlab, type LabInfo } from '../src/lab_kit.js';
import { deployDir } from './deploy_kit.js';

let lab: LabInfo;
let labDir = '';
let down: () => Promise<unknown> = async () => undefined;

interface Target { health: string; scrapeUrl: string; labels: Record<string, string>; lastError: string }

async function api<T>(path: string, params: Record<string, string> = {}, base = lab.prometheusUrl): Promise<T> {
  const r = await fetch(`${base}${path}?${new URLSearchParams(params)}`);
  const body = (await r.json()) as { status: string; data: T; error?: string };
  if (body.status !== 'success') throw new Error(`${path} ${JSON.stringify(params)}: ${body.error}`);
  return body.data;
}

async function until(what: string, fn: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

beforeAll(async () => {
  const l = await startLab(example('two-hosts.yaml'), ['--with-prometheus']);
  lab = l.lab;
  labDir = l.dir;
  down = l.down;
});
afterAll(async () => {
  const pid = lab?.prometheusPid;
  await down();
  if (pid) expect(alive(pid), 'prometheus stopped by down').toBe(false);
});

describe('vnetlab up --with-prometheus', () => {
  it('starts prometheus and every service of the lab is an up target', async () => {
    expect(lab.prometheusUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const want = lab.services.map((s) => s.metricsUrl).sort();
    let targets: Target[] = [];
    await until('every target up', async () => {
      targets = (await api<{ activeTargets: Target[] }>('/api/v1/targets')).activeTargets;
      return want.every((u) => targets.some((t) => t.scrapeUrl === u && t.health === 'up'));
    });
    for (const s of lab.services) {
      const t = targets.find((x) => x.scrapeUrl === s.metricsUrl)!;
      expect(t.health, s.name).toBe('up');
      expect(t.labels.vnetlab_service).toBe(s.name);
    }
    expect(readFileSync(join(labDir, 'prometheus/targets.json'), 'utf8')).toContain(`127.0.0.1:${lab.services[0].httpPort}`);
  });

  it('after a bulk transfer every dashboard panel query returns data (drop and refusal panels may be empty)', async () => {
    const bulk = await vnetlab(['bulk', 'vm-a1', 'vm-b1', '--proto', 'udp', '--bytes', '2000000'], { labDir });
    expect(bulk.code, bulk.stderr).toBe(0);
    // two scrapes after the transfer, so that every rate over [1m] spans it
    const t0 = Date.now() / 1000;
    await until('two scrapes after the bulk', async () => {
      const r = await api<{ result: Array<{ value: [number, string] }> }>('/api/v1/query', { query: 'timestamp(up)' });
      return r.result.length > 0 && r.result.every((x) => Number(x.value[1]) > t0 + 2);
    });
    const host = lab.services.find((s) => s.kind === 'hypervisor')!.host!;
    const empty: string[] = [];
    let checked = 0;
    for (const f of readdirSync(join(deployDir, 'grafana/dashboards'))) {
      const d = JSON.parse(readFileSync(join(deployDir, 'grafana/dashboards', f), 'utf8')) as { panels: Array<{ title: string; targets?: Array<{ expr: string }> }> };
      for (const p of d.panels)
        for (const t of p.targets ?? []) {
          const query = t.expr.replaceAll('$host', host);
          const r = await api<{ result: Array<{ metric: Record<string, string>; value: [number, string] }> }>('/api/v1/query', { query });
          checked++;
          // the vswitch's panels are held against a lab of vswitches below
          const eventOnly = [...EVENT_METRICS, ...VSWITCH_METRICS].some((m) => query.includes(m)) || query.includes('result="error"');
          if (r.result.length === 0 && !eventOnly) empty.push(`${f}: ${p.title}: ${query}`);
        }
    }
    expect(checked).toBeGreaterThan(15);
    expect(empty).toEqual([]);
  });

  it('Prometheus holds the link bytes of the transfer: at least its payload crossed the fabric', async () => {
    const r = await api<{ result: Array<{ value: [number, string] }> }>('/api/v1/query', { query: 'sum(vnetlab_link_bytes_total)' });
    expect(r.result).toHaveLength(1);
    expect(Number(r.result[0].value[1])).toBeGreaterThanOrEqual(2_000_000);
  });
});

describe('the vswitch dashboard against a lab of Open vSwitch hosts', () => {
  it('after traffic across the VXLAN overlay every panel of vswitch.json returns data', async () => {
    const l = await startLab(example('overlay.yaml'), ['--with-prometheus']);
    try {
      const base = l.lab.prometheusUrl!;
      // the overlay's guests have the underlay's MTU less VXLAN's 50 bytes
      const bulk = await vnetlab(['bulk', 'vm-a1', 'vm-b1', '--proto', 'udp', '--bytes', '1000000', '--msg-size', '1400'], { labDir: l.dir });
      expect(bulk.code, bulk.stderr).toBe(0);
      const t0 = Date.now() / 1000;
      await until('two scrapes after the bulk', async () => {
        const r = await api<{ result: Array<{ value: [number, string] }> }>('/api/v1/query', { query: 'timestamp(up)' }, base);
        return r.result.length > 0 && r.result.every((x) => Number(x.value[1]) > t0 + 2);
      });
      const d = JSON.parse(readFileSync(join(deployDir, 'grafana/dashboards/vswitch.json'), 'utf8')) as { panels: Array<{ title: string; targets?: Array<{ expr: string }> }> };
      const empty: string[] = [];
      for (const p of d.panels)
        for (const t of p.targets ?? []) {
          // drops are the good news when empty
          if (t.expr.includes('vnetlab_vswitch_drops_total')) continue;
          // a rate needs two samples of the series in its window: on a busy machine the scrapes come late
          const has = async () => (await api<{ result: unknown[] }>('/api/v1/query', { query: t.expr }, base)).result.length > 0;
          await until(`data for ${p.title}`, has).catch(() => empty.push(`${p.title}: ${t.expr}`));
        }
      expect(d.panels.length).toBeGreaterThanOrEqual(5);
      expect(empty).toEqual([]);
    } finally {
      await l.down();
    }
  });
});
