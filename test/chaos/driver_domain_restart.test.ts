// Chaos: a driver domain's process is killed with kill -9 under load and a supervisor starts
// it again. The new one boots in the same domain: the hypervisor releases what the dead one
// held (event channels, IRQs, grant mappings), the NIC's queue sets are configured anew, and
// every frontend it served is told its backend closed and meets the new one. TCP delivers
// every byte; every frame is delivered, dropped with a reason, or reported lost with the
// killed process (the frames its queues held); every architecture that goes through the
// driver domain talks again, and CDNA, whose data path never enters it, is not interrupted.
import { afterEach, describe, expect, it } from 'vitest';
import { alive, example, parsed, startLab, vnetlab, vnetlabJson, type LabInfo } from '../src/lab_kit.js';
import { conserved, type BulkJson } from './chaos_kit.js';

/** Why a frame may be lost when the driver domain dies: each is a reason the lab names. */
const RESTART_REASONS = new Set([
  'backend_gone',    // a TX request the dead backend never answered (netfront writes it off)
  'device_reset',    // on an emulated NIC's TX ring when its device model died
  'not_for_us',      // a flooded copy while the new bridge learns where the MACs are
  'no_other_port',   // arriving from the NIC at the new bridge before the guests' vifs are back
  'rx_backlog_full', // more than a guest's RX buffers take (the flip guest, under a UDP bulk)
  'qdisc_full', 'no_buffer', // dom0 overrun when the held frames go out at once on the new connection
  'nic_rx_no_buffer', 'nic_rx_hold_overflow', // the NIC with no buffers posted while no driver ran
]);
/** What a dead driver domain may have held in its queues (the bridge's, netback's, the NIC driver's). */
const HELD_MAX = 512;

let labs: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const down of labs.splice(0)) await down();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function kill(l: { dir: string; lab: LabInfo }, name: string): Promise<void> {
  const victim = l.lab.services.find((s) => s.name === name)!;
  process.kill(victim.pid!, 'SIGKILL');
  await sleep(300);
  expect(alive(victim.pid)).toBe(false);
}

async function restart(l: { dir: string }, name: string): Promise<void> {
  const back = parsed<{ pid: number; wasRunning: boolean }>(await vnetlab(['restart', name, '--json'], { labDir: l.dir }), 'restart');
  expect(back.wasRunning).toBe(false);
  expect(alive(back.pid)).toBe(true);
}

/** Echo replies received (0 when the ping itself fails: its source has no path). */
async function pings(l: { dir: string }, src: string, dst: string, count = 2): Promise<number> {
  const r = await vnetlab(['ping', src, dst, '--count', String(count), '--json'], { labDir: l.dir });
  try {
    return (JSON.parse(r.stdout) as { received: number }).received;
  } catch {
    return 0;
  }
}

describe('a driver domain killed under load and started again', () => {
  it('its guests reconnect to the new backend, TCP delivers every byte, and what it held is reported lost with it', async () => {
    const l = await startLab(example('two-hosts.yaml'), ['--no-auto-migrate']);
    labs.push(l.down);
    expect(await pings(l, 'vm-a1', 'vm-b1', 1)).toBe(1);
    expect(await pings(l, 'vm-a2', 'vm-b2', 1)).toBe(1);
    const tcp = vnetlab(['bulk', 'vm-a1', 'vm-b1', '--proto', 'tcp', '--bytes', '2000000', '--json'], { labDir: l.dir, timeoutMs: 180_000 });
    const udp = vnetlab(['bulk', 'vm-a2', 'vm-b2', '--proto', 'udp', '--bytes', '2000000', '--json'], { labDir: l.dir, timeoutMs: 180_000 });
    await sleep(800);
    await kill(l, 'host-a/dom0');
    await restart(l, 'host-a/dom0');

    const t = parsed<BulkJson>(await tcp, 'bulk tcp');
    expect(t.bytesDelivered).toBe(2_000_000);
    conserved(t.flows, { reasons: RESTART_REASONS, lostWith: { service: 'host-a/dom0', max: HELD_MAX } });
    const u = parsed<BulkJson>(await udp, 'bulk udp');
    expect(u.bytesDelivered).toBeGreaterThan(0);
    conserved(u.flows, { reasons: RESTART_REASONS, lostWith: { service: 'host-a/dom0', max: HELD_MAX } });

    // both guests of the restarted domain, both ways, across hosts and through the new bridge
    expect(await pings(l, 'vm-a1', 'vm-b1')).toBe(2);
    expect(await pings(l, 'vm-b2', 'vm-a2')).toBe(2);
    expect(await pings(l, 'vm-a1', 'vm-a2')).toBe(2);
    // a transfer after the restart balances exactly: nothing in flight, nothing lost unnamed
    const after = await vnetlabJson<BulkJson>(['bulk', 'vm-a1', 'vm-b1', '--proto', 'udp', '--bytes', '300000'], l.dir);
    expect(after.bytesDelivered).toBe(300_000);
    conserved(after.flows, { reasons: RESTART_REASONS });
  });

  it('every architecture behind it talks again, and CDNA, whose data path never enters it, is not interrupted', async () => {
    const l = await startLab(example('architectures.yaml'), ['--no-auto-migrate']);
    labs.push(l.down);
    for (const g of ['pv-a', 'mq-a', 'emu-a', 'cdna-a']) expect(await pings(l, g, 'peer-b0', 1), g).toBe(1);
    await kill(l, 'host-a/dom0');
    // no driver domain on host-a: the CDNA guest's own queue set still carries its traffic
    expect(await pings(l, 'cdna-a', 'peer-b0')).toBe(2);
    expect(await pings(l, 'pv-a', 'peer-b0', 1)).toBe(0);
    await restart(l, 'host-a/dom0');
    // netfront (pv, multiqueue) reconnects; the emulated NIC's driver probes the new device model
    for (const g of ['pv-a', 'mq-a', 'emu-a', 'cdna-a']) expect(await pings(l, g, 'peer-b0'), g).toBe(2);
    expect(await pings(l, 'emu-a', 'pv-a')).toBe(2);
    expect(await pings(l, 'mq-a', 'cdna-a')).toBe(2);
  });
});
