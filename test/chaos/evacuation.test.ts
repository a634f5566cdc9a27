// Chaos, seed 004 end to end: a NIC fails under load; the fault agent holds the I/O and
// redirects it through the other host's driver domain; the toolstack then live-migrates the
// host's pv guests to that host. The transfer finishes, every migration reports its rounds and
// downtime, the memory arrives intact, and every frame is delivered or dropped with a reason.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { example, parsed, repoRoot, startLab, vnetlab, vnetlabJson } from '../src/lab_kit.js';

import { conserved, type Flow } from './chaos_kit.js';
interface Evacuations {
  autoMigrate: boolean;
  evacuations: Array<{
    guest: string; fromHost: string; toHost: string; done: boolean; error: string;
    report?: { rounds: Array<{ pages: number }>; downtimeSeconds: number; sourceSha256: string; targetSha256: string; traffic: Array<{ phase: string; fromGuestSent: number }> };
  }>;
}
interface Entry { wallMs: number; kind: string; fields: Record<string, unknown> }

// The waits below, each bounded: the lab's start (120 s), the transfer (200 s), the
// evacuations (120 s), Prometheus's first scrapes (30 s) and its panels (60 s in all).
const TEST_TIMEOUT_MS = 560_000;

describe('a NIC fails under load: redirect, then the guests are migrated away', () => {
  let down: (() => Promise<unknown>) | undefined;
  afterAll(async () => {
    await down?.();
  });

  it('moves every pv guest of the failed host to the redirect target while TCP runs, with rounds, downtime and every byte', async () => {
    const l = await startLab(example('two-hosts.yaml'), ['--with-prometheus']);
    down = l.down;
    await vnetlabJson(['ping', 'vm-a1', 'vm-b1', '--count', '1'], l.dir);
    // long enough that the guests move while it runs (the evacuation starts 2 s after the redirect)
    const bulkStartMs = Date.now();
    let bulkEndMs = Infinity;
    const bulk = vnetlab(['bulk', 'vm-a1', 'vm-b1', '--proto', 'tcp', '--bytes', '30000000', '--json'], { labDir: l.dir, timeoutMs: 200_000 }).finally(() => (bulkEndMs = Date.now()));
    await new Promise((r) => setTimeout(r, 1000));
    expect((await vnetlab(['fail', 'nic', 'host-a/eth0'], { labDir: l.dir })).stdout).toMatch(/link DOWN/);

    const r = parsed<{ bytesDelivered: number; flows: Flow[]; events: Array<{ kind: string; fieldsJson: string }> }>(await bulk, 'bulk');
    expect(r.bytesDelivered).toBe(30_000_000);
    conserved(r.flows);
    // the transfer's own report says what befell it: the NIC failing, the redirect, vm-a1 moving
    const kinds = r.events.map((e) => e.kind);
    for (const k of ['fault-detected', 'fault-redirected', 'evacuation-started', 'migration-stop_and_copy', 'evacuation-done']) expect(kinds, k).toContain(k);
    expect(kinds.indexOf('fault-redirected')).toBeLessThan(kinds.indexOf('evacuation-started'));
    expect(r.events.filter((e) => e.kind === 'evacuation-done').map((e) => (JSON.parse(e.fieldsJson) as { guest: string }).guest)).toContain('vm-a1');

    let ev: Evacuations = { autoMigrate: true, evacuations: [] };
    for (const end = Date.now() + 120_000; Date.now() < end; await new Promise((res) => setTimeout(res, 1000))) {
      ev = await vnetlabJson<Evacuations>(['evacuations'], l.dir);
      if (ev.evacuations.length === 2 && ev.evacuations.every((e) => e.done)) break;
    }
    expect(ev.autoMigrate).toBe(true);
    expect(ev.evacuations.map((e) => [e.guest, e.fromHost, e.toHost, e.error])).toEqual([
      ['vm-a1', 'host-a', 'host-b', ''],
      ['vm-a2', 'host-a', 'host-b', ''],
    ]);
    // the sender moved while its transfer ran: its evacuation started after the transfer did and
    // was over before the transfer was, and the guest sent frames during its pre-copy
    const log = (await vnetlab(['events', '--json'], { labDir: l.dir })).stdout.split('\n').filter((x) => x).map((x) => JSON.parse(x) as Entry);
    const at = (phase: string) => log.find((e) => e.kind === `evacuation-${phase}` && e.fields.guest === 'vm-a1')?.wallMs ?? NaN;
    expect(at('started')).toBeGreaterThan(bulkStartMs);
    expect(at('done')).toBeLessThan(bulkEndMs);
    expect(ev.evacuations[0]!.report!.traffic.find((t) => t.phase === 'precopy')!.fromGuestSent).toBeGreaterThan(0);
    for (const e of ev.evacuations) {
      expect(e.report!.rounds.length, e.guest).toBeGreaterThanOrEqual(1);
      expect(e.report!.downtimeSeconds, e.guest).toBeGreaterThan(0);
      expect(e.report!.targetSha256, e.guest).toBe(e.report!.sourceSha256);
    }
    // the guests now live beside vm-b1, and still answer
    const status = await vnetlabJson<{ services: Array<{ name: string; host: string }> }>(['status'], l.dir);
    expect(status.services.filter((s) => s.name === 'vm-a1' || s.name === 'vm-a2').map((s) => s.host)).toEqual(['host-b', 'host-b']);
    const p = await vnetlabJson<{ received: number }>(['ping', 'vm-a1', 'vm-b2', '--count', '2'], l.dir);
    expect(p.received).toBe(2);
    const text = (await vnetlab(['evacuations'], { labDir: l.dir })).stdout;
    expect(text).toMatch(/vm-a1: host-a → host-b \(host-a\/eth0 failed\): moved/);

    // the failures-and-migration dashboard shows it all: every panel's query has data in the real Prometheus
    const prom = async (query: string) => {
      const res = (await (await fetch(`${l.lab.prometheusUrl}/api/v1/query?${new URLSearchParams({ query })}`)).json()) as { data: { result: Array<{ value: [number, string] }> } };
      return res.data.result;
    };
    const t0 = Date.now() / 1000;
    for (const end = Date.now() + 30_000; Date.now() < end; await new Promise((res) => setTimeout(res, 500))) {
      const up = await prom('timestamp(up)');
      if (up.length > 0 && up.every((x) => Number(x.value[1]) > t0 + 2)) break;
    }
    const board = JSON.parse(readFileSync(join(repoRoot, 'deploy/grafana/dashboards/failures.json'), 'utf8')) as { panels: Array<{ title: string; targets?: Array<{ expr: string }> }> };
    const empty: string[] = [];
    const panelsEnd = Date.now() + 60_000;
    for (const p of board.panels)
      for (const t of p.targets ?? []) {
        if (t.expr.includes('vnetlab_link_cuts_total')) continue;
        // a rate needs two samples in its window: on a busy machine the scrapes come late
        let ok = (await prom(t.expr)).length > 0;
        while (!ok && Date.now() < panelsEnd) {
          await new Promise((res) => setTimeout(res, 500));
          ok = (await prom(t.expr)).length > 0;
        }
        if (!ok) empty.push(`${p.title}: ${t.expr}`);
      }
    expect(empty).toEqual([]);
  }, TEST_TIMEOUT_MS);
});
