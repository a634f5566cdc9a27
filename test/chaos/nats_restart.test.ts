// Chaos: the lab's NATS server is killed under load and started again. Every service
// reconnects, looks at its rings again (signals sent while it was away are gone), and the
// traffic goes on: TCP delivers every byte; what died inside the server is reported in
// flight, never as delivered.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { alive, example, metricValue, parsed, startLab, vnetlab, vnetlabJson } from '../src/lab_kit.js';

import { conserved, type Flow } from './chaos_kit.js';

describe('the NATS server restarts under load', () => {
  let restarted: ChildProcess | undefined;
  let down: (() => Promise<unknown>) | undefined;
  afterAll(async () => {
    await down?.();
    restarted?.kill('SIGKILL');
  });

  it('every service reconnects, TCP delivers every byte, and the guests reach each other afterwards', async () => {
    const l = await startLab(example('two-hosts.yaml'));
    down = l.down;
    await vnetlabJson(['ping', 'vm-a1', 'vm-b1', '--count', '1'], l.dir);
    const pid = l.lab.natsPid!;
    // the same server, the same configuration, the same JetStream store (the xenstore survives)
    const [bin, ...args] = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    const bulk = vnetlab(['bulk', 'vm-a1', 'vm-b1', '--proto', 'tcp', '--bytes', '2000000', '--json'], { labDir: l.dir, timeoutMs: 120_000 });
    await new Promise((r) => setTimeout(r, 1000));
    process.kill(pid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 500));
    expect(alive(pid)).toBe(false);
    restarted = spawn(bin!, args, { stdio: 'ignore' });

    const r = parsed<{ bytesDelivered: number; flows: Flow[] }>(await bulk, 'bulk');
    expect(r.bytesDelivered).toBe(2_000_000);
    // frames inside the killed server are reported in flight with the server named: a window's worth at most
    conserved(r.flows, { lostWith: { service: 'nats-server', max: 511 } });
    const p = await vnetlabJson<{ received: number }>(['ping', 'vm-a2', 'vm-b2', '--count', '2'], l.dir);
    expect(p.received).toBe(2);
    // each service saw the reconnection
    for (const s of l.lab.services.filter((x) => x.kind === 'driver-domain' || x.kind === 'guest')) {
      const text = await fetch(s.metricsUrl).then((x) => x.text());
      expect(metricValue(text, 'vnetlab_nats_reconnects_total'), s.name).toBeGreaterThanOrEqual(1);
    }
  });
});
