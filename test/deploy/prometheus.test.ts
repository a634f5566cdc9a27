// `vnetlab up --with-prometheus`: a real lab and Debian's prometheus scraping every service;
// after traffic and the events every dashboard is about (drops, a refused attack, bad input,
// a cut cable, a failed NIC, a migration) every query of every panel has data.
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { eth, subjects } from '@vnetlab/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alive, example, natsCredentials, startLab, vnetlab, type LabInfo } from '../src/lab_kit.js';
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

async function cli(args: string[], dir = labDir): Promise<string> {
  const r = await vnetlab(args, { labDir: dir });
  expect(r.code, `vnetlab ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

/** The panels of one dashboard whose queries return no series from Prometheus at `base` (each given up to 30 s: a rate needs two scrapes of a series). */
async function emptyPanels(file: string, base: string, host: string): Promise<{ checked: number; empty: string[] }> {
  const d = JSON.parse(readFileSync(join(deployDir, 'grafana/dashboards', file), 'utf8')) as { panels: Array<{ title: string; targets?: Array<{ expr: string }> }> };
  const empty: string[] = [];
  let checked = 0;
  for (const p of d.panels)
    for (const t of p.targets ?? []) {
      const query = t.expr.replaceAll('$host', host);
      checked++;
      const has = async () => (await api<{ result: unknown[] }>('/api/v1/query', { query }, base)).result.length > 0;
      await until(`data for ${p.title}`, has).catch(() => empty.push(`${file}: ${p.title}: ${query}`));
    }
  return { checked, empty };
}

beforeAll(async () => {
  // the two-hosts lab with a lossy cable, so that the link's drop panels have their reason
  const dir = mkdtempSync(join(tmpdir(), 'vnetlab-prom-topo-'));
  const file = join(dir, 'two-hosts-lossy.yaml');
  writeFileSync(file, readFileSync(example('two-hosts.yaml'), 'utf8').replace(/loss: 0 \}/, 'loss: 0.02 }'));
  const l = await startLab(file, ['--with-prometheus', '--no-auto-migrate']);
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

  it('after traffic, a refused attack, bad input, a cut cable, a failed NIC and a migration, every panel of every dashboard but the vswitch\'s has data', async () => {
    // round trips for the latency panel (on a lossy cable a reply may be lost: ping's exit says so, and that is fine here)
    await vnetlab(['ping', 'vm-a1', 'vm-b1', '--count', '3'], { labDir });
    await cli(['bulk', 'vm-a1', 'vm-b1', '--proto', 'tcp', '--bytes', '1000000']);
    // the lossy cable drops some datagrams (link_loss): every loss has its reason, so the bulk succeeds
    await cli(['bulk', 'vm-a1', 'vm-b1', '--proto', 'udp', '--bytes', '2000000']);
    // a hostile guest, refused: protection violations and refused hypercalls
    expect(await cli(['attack', 'grant-foreign', '--attacker', 'vm-a1', '--victim', 'vm-a2'])).toMatch(/verdict: refused/);
    // hostile bytes on the bus: garbage where a NIC takes frames from the wire (a bad message),
    // and a well-formed burst carrying a 10-byte runt (dropped by the NIC as malformed)
    const nc = await connect({ servers: lab.natsUrl, ...natsCredentials(labDir) });
    nc.publish(subjects.nicRx('host-b', 'eth0'), Buffer.from('not a frame burst'));
    nc.publish(subjects.nicRx('host-b', 'eth0'), eth.FrameBurst.encode({ link: 'link0', from: 'host-a/eth0', frames: [{ data: Buffer.alloc(10), tNs: 0 }] }).finish());
    await nc.drain();
    // a cable cut and mended; a NIC failed (its traffic redirected through the other host) and repaired
    await cli(['fail', 'link', 'host-a/eth0']);
    await cli(['repair', 'link', 'host-a/eth0']);
    await cli(['fail', 'nic', 'host-a/eth0']);
    await until('the redirect', async () => (await vnetlab(['ping', 'vm-a1', 'vm-b1', '--count', '1'], { labDir })).stdout.includes('1 received'), 60_000);
    await cli(['repair', 'nic', 'host-a/eth0']);
    // a live migration
    await cli(['migrate', 'vm-a2', '--to', 'host-b']);
    const host = lab.services.find((s) => s.kind === 'hypervisor')!.host!;
    const empty: string[] = [];
    let checked = 0;
    for (const f of readdirSync(join(deployDir, 'grafana/dashboards')).filter((f) => f !== 'vswitch.json')) {
      const r = await emptyPanels(f, lab.prometheusUrl!, host);
      checked += r.checked;
      empty.push(...r.empty);
    }
    expect(checked).toBeGreaterThan(30);
    expect(empty).toEqual([]);
  }, 600_000);

  it('Prometheus holds the link bytes of the transfer: at least its payload crossed the fabric', async () => {
    const r = await api<{ result: Array<{ value: [number, string] }> }>('/api/v1/query', { query: 'sum(vnetlab_link_bytes_total)' });
    expect(r.result).toHaveLength(1);
    expect(Number(r.result[0].value[1])).toBeGreaterThanOrEqual(2_000_000);
  });
});

describe('the vswitch dashboard against a lab of Open vSwitch hosts', () => {
  it('after traffic across the VXLAN overlay, and datagrams too large for the underlay, every panel of vswitch.json has data', async () => {
    const l = await startLab(example('overlay.yaml'), ['--with-prometheus']);
    try {
      // the overlay's guests have the underlay's MTU less VXLAN's 50 bytes
      await cli(['bulk', 'vm-a1', 'vm-b1', '--proto', 'udp', '--bytes', '1000000', '--msg-size', '1400'], l.dir);
      // a full-size datagram does not fit the underlay once encapsulated: dropped with its reason
      await vnetlab(['bulk', 'vm-a1', 'vm-b1', '--proto', 'udp', '--bytes', '20000', '--msg-size', '1472'], { labDir: l.dir });
      const host = l.lab.services.find((s) => s.kind === 'hypervisor')!.host!;
      const r = await emptyPanels('vswitch.json', l.lab.prometheusUrl!, host);
      expect(r.checked).toBeGreaterThanOrEqual(5);
      expect(r.empty).toEqual([]);
    } finally {
      await l.down();
    }
  }, 300_000);
});
