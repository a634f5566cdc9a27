// Chaos: a guest's process is killed with kill -9 while its neighbours carry traffic, and a
// supervisor starts it again. The restarted guest closes the frontend its earlier run left
// connected, revokes the grants that run left behind, and meets netback afresh; the
// neighbours' transfer is untouched, the stream the killed guest was receiving is accounted
// for (delivered, dropped with a reason, or reported lost with the killed process named), and
// the guest talks again in both directions.
import { afterAll, describe, expect, it } from 'vitest';
import { alive, example, metricValue, parsed, startLab, vnetlab, vnetlabJson } from '../src/lab_kit.js';
import { conserved, type BulkJson } from './chaos_kit.js';

describe('a guest killed and restarted', () => {
  let down: (() => Promise<unknown>) | undefined;
  afterAll(async () => {
    await down?.();
  });

  it('comes back connected, what it was receiving is delivered or reported lost with it, the others\' transfer goes on untouched, and it sends and receives again', async () => {
    const l = await startLab(example('two-hosts.yaml'), ['--no-auto-migrate']);
    down = l.down;
    await vnetlabJson(['ping', 'vm-a1', 'vm-b1', '--count', '1'], l.dir);
    const victim = l.lab.services.find((s) => s.name === 'vm-a1')!;
    const others = vnetlab(['bulk', 'vm-a2', 'vm-b2', '--proto', 'tcp', '--bytes', '2000000', '--json'], { labDir: l.dir, timeoutMs: 120_000 });
    // a stream to the victim, killed while it runs (once frames land there)
    const delivered = async () => metricValue(await (await fetch(victim.metricsUrl)).text(), 'vnetlab_flow_delivered_frames_total') || 0;
    const before = await delivered();
    let ownDone = false;
    const own = vnetlab(['bulk', 'vm-b1', 'vm-a1', '--proto', 'udp', '--bytes', '20000000', '--json'], { labDir: l.dir, timeoutMs: 120_000 }).finally(() => (ownDone = true));
    for (const end = Date.now() + 30_000; Date.now() < end && (await delivered()) < before + 100; ) await new Promise((r) => setTimeout(r, 100));
    expect(await delivered()).toBeGreaterThanOrEqual(before + 100);
    process.kill(victim.pid!, 'SIGKILL');
    expect(ownDone, 'the stream to the victim was still running when it was killed').toBe(false);
    await new Promise((r) => setTimeout(r, 500));
    expect(alive(victim.pid)).toBe(false);

    // its own stream: the frames sent to it after it died were not delivered; whatever is not
    // delivered or dropped with a reason is reported lost with the killed process named
    const v = parsed<BulkJson>(await own, 'own');
    const data = v.flows.find((f) => f.flow.startsWith('udp '))!;
    expect(data.deliveredFrames).toBeLessThan(data.sentFrames);
    conserved(v.flows, { lostWith: { service: 'vm-a1', max: data.sentFrames } });
    for (const f of v.flows) if (f.inFlight > 0) expect(f.lostWith, f.flow).toContain('vm-a1 (signal SIGKILL)');

    const back = parsed<{ pid: number; wasRunning: boolean }>(await vnetlab(['restart', 'vm-a1', '--json'], { labDir: l.dir }), 'restart');
    expect(back.wasRunning).toBe(false);
    expect(alive(back.pid)).toBe(true);

    const o = parsed<BulkJson>(await others, 'others');
    expect(o.bytesDelivered).toBe(2_000_000);
    conserved(o.flows);

    // the restarted guest, both ways
    expect((await vnetlabJson<{ received: number }>(['ping', 'vm-a1', 'vm-b1', '--count', '2'], l.dir)).received).toBe(2);
    expect((await vnetlabJson<{ received: number }>(['ping', 'vm-b1', 'vm-a1', '--count', '2'], l.dir)).received).toBe(2);
    const u = await vnetlabJson<BulkJson>(['bulk', 'vm-a1', 'vm-b1', '--proto', 'udp', '--bytes', '200000'], l.dir);
    expect(u.bytesDelivered).toBe(200_000);
    conserved(u.flows);
  }, 240_000);
});
