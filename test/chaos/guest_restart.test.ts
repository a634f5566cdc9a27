// Chaos: a guest's process is killed with kill -9 while its neighbours carry traffic, and a
// supervisor starts it again. The restarted guest closes the frontend its earlier run left
// connected, revokes the grants that run left behind, and meets netback afresh; the
// neighbours' transfer is untouched, and the guest talks again in both directions.
import { afterAll, describe, expect, it } from 'vitest';
import { alive, example, parsed, startLab, vnetlab, vnetlabJson } from '../src/lab_kit.js';
import { conserved, type BulkJson } from './chaos_kit.js';

describe('a guest killed and restarted', () => {
  let down: (() => Promise<unknown>) | undefined;
  afterAll(async () => {
    await down?.();
  });

  it('comes back connected, the others\' transfer goes on untouched, and it sends and receives again', async () => {
    const l = await startLab(example('two-hosts.yaml'), ['--no-auto-migrate']);
    down = l.down;
    await vnetlabJson(['ping', 'vm-a1', 'vm-b1', '--count', '1'], l.dir);
    const victim = l.lab.services.find((s) => s.name === 'vm-a1')!;
    const others = vnetlab(['bulk', 'vm-a2', 'vm-b2', '--proto', 'tcp', '--bytes', '2000000', '--json'], { labDir: l.dir, timeoutMs: 120_000 });
    await new Promise((r) => setTimeout(r, 800));
    process.kill(victim.pid!, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 500));
    expect(alive(victim.pid)).toBe(false);

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
  });
});
