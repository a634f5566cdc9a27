// The lab's timeline: a NIC fails, the fault agent holds and redirects, the toolstack
// evacuates the host's pv guests (each migration phase by phase), the NIC is repaired. The
// controller logs every event it hears on lab.events and migration.<host>; `vnetlab events`
// shows them in the order they happened, each with its wall and modelled time, and
// `--follow` shows the same ones as they come.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cliPath, example, metricValue, startLab, vnetlab } from '../src/lab_kit.js';

interface Entry { seq: number; wallMs: number; tNs?: number; kind: string; service: string; host: string; msg: string; fields: Record<string, unknown> }

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const lines = (s: string) => s.split('\n').filter((l) => l.trim() !== '');

async function events(dir: string, extra: string[] = []): Promise<Entry[]> {
  const r = await vnetlab(['events', '--json', ...extra], { labDir: dir });
  expect(r.code, r.stderr).toBe(0);
  return lines(r.stdout).map((l) => JSON.parse(l) as Entry);
}

/** Polls the log until `done` holds of it. */
async function until(dir: string, done: (es: Entry[]) => boolean, ms: number): Promise<Entry[]> {
  let es: Entry[] = [];
  for (const end = Date.now() + ms; Date.now() < end; await sleep(1000)) {
    es = await events(dir);
    if (done(es)) break;
  }
  return es;
}

describe('vnetlab events', () => {
  let down: (() => Promise<unknown>) | undefined;
  afterAll(async () => {
    await down?.();
  });

  it('shows a NIC failure, its redirect, the evacuation with every migration phase, and the repair, in order, with wall and modelled times; --follow shows the same as they come', async () => {
    const l = await startLab(example('two-hosts.yaml'));
    down = l.down;
    const dir = l.dir;
    // a follower from before anything happens
    const follower = spawn(process.execPath, [cliPath, 'events', '--follow', '--json', '--lab-dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let followed = '';
    follower.stdout.on('data', (d: Buffer) => (followed += d.toString()));
    try {
      await sleep(500);
      expect((await vnetlab(['ping', 'vm-a1', 'vm-b1', '--count', '1'], { labDir: dir })).code).toBe(0);
      const start = Date.now();
      expect((await vnetlab(['fail', 'nic', 'host-a/eth0'], { labDir: dir })).stdout).toMatch(/link DOWN/);
      const evacuated = (es: Entry[]) => es.filter((e) => e.kind === 'evacuation-done').length === 2;
      let es = await until(dir, evacuated, 100_000);
      expect(evacuated(es), es.map((e) => `${e.kind} ${e.msg}`).join('\n')).toBe(true);
      expect((await vnetlab(['repair', 'nic', 'host-a/eth0'], { labDir: dir })).stdout).toMatch(/link up/);
      es = await until(dir, (x) => x.some((e) => e.kind === 'fault-restored' && e.host === 'host-a'), 30_000);

      // the log is in the order it was heard, every entry with its wall time
      expect(es.map((e) => e.seq)).toEqual([...es.map((e) => e.seq)].sort((a, b) => a - b));
      for (let i = 1; i < es.length; i++) expect(es[i]!.wallMs).toBeGreaterThanOrEqual(es[i - 1]!.wallMs);
      const at = (pred: (e: Entry) => boolean, what: string) => {
        const i = es.findIndex(pred);
        expect(i, `${what} not in:\n${es.map((e) => `${e.kind} ${e.msg}`).join('\n')}`).toBeGreaterThanOrEqual(0);
        return i;
      };
      const faultA = (phase: string) => at((e) => e.kind === `fault-${phase}` && e.host === 'host-a' && e.fields.nic === 'eth0', `fault-${phase}`);
      const ev = (phase: string, guest: string) => at((e) => e.kind === `evacuation-${phase}` && e.fields.guest === guest, `evacuation-${phase} ${guest}`);
      const mig = (phase: string, guest: string, round?: number) =>
        at((e) => e.kind === `migration-${phase}` && e.fields.domain === guest && (round === undefined || e.fields.round === round), `migration-${phase} ${guest}`);
      const failed = at((e) => e.kind === 'nic-failed' && e.host === 'host-a', 'nic-failed');
      const order = [failed, faultA('detected'), faultA('held'), faultA('redirected')];
      for (const guest of ['vm-a1', 'vm-a2']) {
        order.push(ev('started', guest), mig('reserved', guest), mig('prepared', guest), mig('precopy', guest, 1), mig('stop_and_copy', guest), mig('resumed', guest), mig('released', guest), mig('done', guest), ev('done', guest));
      }
      order.push(faultA('restored'));
      expect(order).toEqual([...order].sort((a, b) => a - b));
      // nothing of it happened before the failure
      expect(es[failed]!.wallMs).toBeGreaterThanOrEqual(start - 1000);

      // a migration's phases carry their modelled times, rounds numbered from 1 without a gap
      for (const guest of ['vm-a1', 'vm-a2']) {
        const phases = es.filter((e) => e.kind.startsWith('migration-') && e.fields.domain === guest);
        const rounds = phases.filter((e) => e.kind === 'migration-precopy').map((e) => e.fields.round);
        expect(rounds).toEqual(rounds.map((_, i) => i + 1));
        const timed = phases.filter((e) => e.kind !== 'migration-reserved' && e.kind !== 'migration-prepared');
        for (const e of timed) expect(e.tNs, `${e.kind} ${guest}`).toBeGreaterThan(0);
        const stop = phases.find((e) => e.kind === 'migration-stop_and_copy')!;
        const resumed = phases.find((e) => e.kind === 'migration-resumed')!;
        expect(resumed.tNs!).toBeGreaterThanOrEqual(stop.tNs!);
      }

      // the same as text, one line each: wall time, modelled time, kind, what happened
      const text = lines((await vnetlab(['events'], { labDir: dir })).stdout);
      expect(text.length).toBeGreaterThanOrEqual(es.length);
      expect(text.find((x) => x.includes('evacuation-done'))).toMatch(/^\d\d:\d\d:\d\d\.\d{3} +(\d+\.\d{3} ms|—) +evacuation-done +vm-a1 left host-a for host-b/);
      expect(text.find((x) => x.includes('migration-precopy'))).toMatch(/^\d\d:\d\d:\d\d\.\d{3} +\d+\.\d{3} ms +migration-precopy +vm-a1: host-a → host-b: pre-copy round 1: 4096 pages/);
      // --since: only what came later
      const late = await events(dir, ['--since', new Date(es[faultA('restored')]!.wallMs).toISOString()]);
      expect(late.map((e) => e.seq)).toEqual(es.filter((e) => e.wallMs >= es[faultA('restored')]!.wallMs).map((e) => e.seq));
      expect((await vnetlab(['events', '--since', 'yesterday'], { labDir: dir })).stderr).toMatch(/--since takes/);

      // the follower saw the same events, in the same order
      await sleep(500);
      const seen = lines(followed).map((x) => JSON.parse(x) as Entry);
      const fromFailure = seen.filter((e) => e.seq >= es[failed]!.seq && e.seq <= es.at(-1)!.seq).map((e) => e.seq);
      expect(fromFailure).toEqual(es.filter((e) => e.seq >= es[failed]!.seq).map((e) => e.seq));
    } finally {
      follower.kill('SIGTERM');
    }

    // the controller counts the evacuations
    const targets = JSON.parse(readFileSync(join(dir, 'prometheus', 'targets.json'), 'utf8')) as Array<{ targets: string[]; labels: { kind: string } }>;
    const controllerMetrics = `http://${targets.find((t) => t.labels.kind === 'controller')!.targets[0]}/metrics`;
    const text = await (await fetch(controllerMetrics)).text();
    expect(metricValue(text, 'vnetlab_evacuations_total', { result: 'done' })).toBe(2);
    expect(metricValue(text, 'vnetlab_evacuations_total', { result: 'failed' })).toBe(0);
  }, 240_000);
});
