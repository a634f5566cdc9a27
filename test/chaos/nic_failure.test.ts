// Chaos: a NIC fails under load, or its process is killed, or the cable is cut. The driver
// domain's fault agent notices (link state, or missed heartbeats), holds the I/O, redirects
// it over the network through the other host's driver domain, and restores it when the NIC
// is back. TCP delivers every byte; every frame is delivered, dropped with a reason, or
// reported in flight.
import { afterEach, describe, expect, it } from 'vitest';
import { example, type LabInfo, metricValue, parsed, startLab, vnetlab, vnetlabJson } from '../src/lab_kit.js';

import { conserved as conservedWith, type BulkJson, type Flow } from './chaos_kit.js';

/** Why a frame may be lost when a NIC or its cable fails: each is a reason the lab names. */
const FAILURE_REASONS = new Set(['nic_link_down', 'link_down', 'link_cut', 'nic_dead', 'not_for_us', 'qdisc_full', 'rx_backlog_full']);
/** And, with a UDP stream that outruns its receiver beside them (nothing paces it), where the host's receive queues overflow. */
const LOAD_REASONS = new Set([...FAILURE_REASONS, 'nic_rx_no_buffer', 'rx_no_buffer', 'rx_ring_full', 'nic_rx_hold_overflow', 'rx_hold_overflow']);

let labs: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const down of labs.splice(0)) await down();
});

async function lab(): Promise<{ dir: string; lab: LabInfo }> {
  // the redirect on its own: the guests stay (test/chaos/evacuation.test.ts moves them)
  const l = await startLab(example('two-hosts.yaml'), ['--no-auto-migrate']);
  labs.push(l.down);
  await vnetlabJson(['ping', 'vm-a1', 'vm-b1', '--count', '1'], l.dir);
  return l;
}

/** A counter not yet incremented is not exported: it counts as zero. */
const count = (v: number) => (Number.isNaN(v) ? 0 : v);
const metricsOf = (l: LabInfo, name: string) => fetch(l.services.find((s) => s.name === name)!.metricsUrl).then((r) => r.text());
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every frame of every flow is delivered, dropped with a failure's reason, or (at most `inFlight`) reported in flight. */
const conserved = (flows: Flow[], inFlight = 0) => conservedWith(flows, { inFlight, reasons: FAILURE_REASONS });

/** Waits until a dom0 metric reaches at least `min`. */
async function until(l: LabInfo, service: string, name: string, labels: Record<string, string>, min: number, ms = 15_000): Promise<number> {
  const end = Date.now() + ms;
  for (;;) {
    const v = count(metricValue(await metricsOf(l, service), name, labels));
    if (v >= min || Date.now() > end) return v;
    await sleep(200);
  }
}

describe('a NIC fails under load', () => {
  it('the fault agent holds and redirects the I/O through the other host, TCP delivers every byte, and the NIC takes over again once repaired', async () => {
    const { dir, lab: l } = await lab();
    const bulk = vnetlab(['bulk', 'vm-a1', 'vm-b1', '--proto', 'tcp', '--bytes', '3000000', '--json'], { labDir: dir, timeoutMs: 120_000 });
    await sleep(1000);
    expect((await vnetlab(['fail', 'nic', 'host-a/eth0'], { labDir: dir })).stdout).toMatch(/link DOWN/);
    expect(await until(l, 'host-a/dom0', 'vnetlab_fault_phases_total', { nic: 'eth0', phase: 'redirected' }, 1)).toBe(1);
    const r = parsed<BulkJson>(await bulk, 'bulk');
    expect(r.bytesDelivered).toBe(3_000_000);
    conserved(r.flows);
    const a = await metricsOf(l, 'host-a/dom0');
    expect(metricValue(a, 'vnetlab_fault_phases_total', { nic: 'eth0', phase: 'detected' })).toBe(1);
    expect(metricValue(a, 'vnetlab_nic_health', { nic: 'eth0' })).toBe(2);
    const out = metricValue(a, 'vnetlab_redirected_frames_total', { direction: 'out' });
    expect(out).toBeGreaterThan(100);
    // the other side carried them: what host-a sent, host-b received
    expect(metricValue(await metricsOf(l, 'host-b/dom0'), 'vnetlab_redirected_frames_total', { direction: 'in' })).toBeGreaterThanOrEqual(out);
    // the hypervisor was told
    expect(metricValue(await metricsOf(l, 'host-a/hypervisor'), 'vnetlab_hypervisor_nic_failed', { nic: 'eth0' })).toBe(1);

    expect((await vnetlab(['repair', 'nic', 'host-a/eth0'], { labDir: dir })).stdout).toMatch(/link up/);
    expect(await until(l, 'host-a/dom0', 'vnetlab_fault_phases_total', { nic: 'eth0', phase: 'restored' }, 1)).toBe(1);
    const after = await vnetlabJson<BulkJson>(['bulk', 'vm-a1', 'vm-b1', '--proto', 'udp', '--bytes', '150000'], dir);
    conserved(after.flows);
    expect(after.flows[0]!.deliveredFrames).toBe(after.flows[0]!.sentFrames);
    // through the NIC again: nothing more crossed the redirect
    const a2 = await metricsOf(l, 'host-a/dom0');
    expect(metricValue(a2, 'vnetlab_redirected_frames_total', { direction: 'out' })).toBe(out);
    expect(metricValue(a2, 'vnetlab_nic_health', { nic: 'eth0' })).toBe(0);
  });

  it('a killed NIC process falls silent: missed heartbeats are noticed, its TX ring is written off with a reason, TCP still delivers every byte, and the restarted NIC takes over again', async () => {
    const { dir, lab: l } = await lab();
    const nic = l.services.find((s) => s.kind === 'nic' && s.host === 'host-a')!;
    const bulk = vnetlab(['bulk', 'vm-a1', 'vm-b1', '--proto', 'tcp', '--bytes', '2000000', '--json'], { labDir: dir, timeoutMs: 120_000 });
    await sleep(1000);
    process.kill(nic.pid!, 'SIGKILL');
    const r = parsed<BulkJson>(await bulk, 'bulk');
    expect(r.bytesDelivered).toBe(2_000_000);
    const a = await metricsOf(l, 'host-a/dom0');
    expect(metricValue(a, 'vnetlab_fault_phases_total', { nic: 'eth0', phase: 'redirected' })).toBe(1);
    expect(count(metricValue(a, 'vnetlab_fault_phases_total', { nic: 'eth0', phase: 'restored' }))).toBe(0);
    // frames inside the killed process are the only ones the lab cannot see: reported in flight
    // with the process named (a ring's worth at most), never in flight without a name
    conservedWith(r.flows, { reasons: FAILURE_REASONS, lostWith: { service: 'host-a/eth0', max: 512 } });

    // a supervisor brings the NIC back: a new device, the driver reloaded, the traffic through it again
    const back = parsed<{ pid: number; wasRunning: boolean }>(await vnetlab(['restart', 'host-a/eth0', '--json'], { labDir: dir }), 'restart');
    expect(back.wasRunning).toBe(false);
    expect(back.pid).not.toBe(nic.pid);
    expect(await until(l, 'host-a/dom0', 'vnetlab_fault_phases_total', { nic: 'eth0', phase: 'restored' }, 1)).toBe(1);
    const out = metricValue(await metricsOf(l, 'host-a/dom0'), 'vnetlab_redirected_frames_total', { direction: 'out' });
    const u = await vnetlabJson<BulkJson>(['bulk', 'vm-a1', 'vm-b1', '--proto', 'udp', '--bytes', '150000'], dir);
    expect(u.bytesDelivered).toBe(150_000);
    conserved(u.flows);
    expect(metricValue(await metricsOf(l, 'host-a/dom0'), 'vnetlab_redirected_frames_total', { direction: 'out' })).toBe(out);
    expect(metricValue(await metricsOf(l, 'host-a/eth0'), 'vnetlab_nic_tx_frames_total')).toBeGreaterThanOrEqual(u.flows[0]!.sentFrames);
  });
});

describe('a cable is cut', () => {
  it('under TCP and UDP load both NICs lose carrier, both driver domains redirect, the transfers go on across the cut and the mend: TCP delivers every byte, every lost datagram has its reason', async () => {
    const { dir, lab: l } = await lab();
    await vnetlabJson(['ping', 'vm-b2', 'vm-a2', '--count', '1'], dir);
    const done = { tcp: false, udp: false };
    // big enough to outlast the cut (UDP) and the mend (TCP) on a fast machine; the cut comes
    // once both streams have frames landing
    const tcp = vnetlab(['bulk', 'vm-a1', 'vm-b1', '--proto', 'tcp', '--bytes', '40000000', '--json'], { labDir: dir, timeoutMs: 240_000 }).finally(() => (done.tcp = true));
    expect(await until(l, 'vm-b1', 'vnetlab_flow_delivered_frames_total', {}, 100, 60_000)).toBeGreaterThanOrEqual(100);
    const udpBefore = count(metricValue(await metricsOf(l, 'vm-a2'), 'vnetlab_flow_delivered_frames_total'));
    const udp = vnetlab(['bulk', 'vm-b2', 'vm-a2', '--proto', 'udp', '--bytes', '100000000', '--json'], { labDir: dir, timeoutMs: 240_000 }).finally(() => (done.udp = true));
    expect(await until(l, 'vm-a2', 'vnetlab_flow_delivered_frames_total', {}, udpBefore + 100, 60_000)).toBeGreaterThanOrEqual(udpBefore + 100);
    const cut = await vnetlab(['fail', 'link', 'host-a/eth0', '--json'], { labDir: dir });
    expect(done, 'the transfers were still running when the cable was cut').toEqual({ tcp: false, udp: false });
    expect(JSON.parse(cut.stdout)).toMatchObject({ cut: true, ends: [{ nic: 'host-a/eth0', up: false }, { nic: 'host-b/eth0', up: false }] });
    for (const dom0 of ['host-a/dom0', 'host-b/dom0']) expect(await until(l, dom0, 'vnetlab_fault_phases_total', { nic: 'eth0', phase: 'redirected' }, 1, 60_000), `${dom0} redirected`).toBe(1);
    // the guests still reach each other (beside the transfers' queues: an echo may wait out its time)
    const p = JSON.parse((await vnetlab(['ping', 'vm-a1', 'vm-b1', '--count', '3', '--json'], { labDir: dir })).stdout) as { received: number };
    expect(p.received).toBeGreaterThanOrEqual(1);
    const fabric = await metricsOf(l, 'fabric');
    expect(metricValue(fabric, 'vnetlab_link_cuts_total', { state: 'cut' }), 'cuts counted by the fabric').toBe(1);

    const mend = await vnetlab(['repair', 'link', 'host-a/eth0', '--json'], { labDir: dir });
    expect(done.tcp, 'the TCP transfer was still running when the cable was mended').toBe(false);
    expect(JSON.parse(mend.stdout)).toMatchObject({ cut: false, ends: [{ up: true }, { up: true }] });
    for (const dom0 of ['host-a/dom0', 'host-b/dom0']) expect(await until(l, dom0, 'vnetlab_fault_phases_total', { nic: 'eth0', phase: 'restored' }, 1, 60_000), `${dom0} restored`).toBe(1);

    // TCP: every byte, in order; UDP: every datagram delivered or dropped with a reason the lab names
    const t = parsed<BulkJson>(await tcp, 'tcp bulk');
    expect(t.bytesDelivered).toBe(40_000_000);
    conservedWith(t.flows, { reasons: LOAD_REASONS });
    const u = parsed<BulkJson>(await udp, 'udp bulk');
    conservedWith(u.flows, { reasons: LOAD_REASONS });
    const data = u.flows.find((f) => f.flow.startsWith('udp '))!;
    expect(data.sentFrames).toBeGreaterThan(0);
    // after the mend the path carries traffic again
    const after = await vnetlabJson<BulkJson>(['bulk', 'vm-b2', 'vm-a2', '--proto', 'udp', '--bytes', '100000'], dir);
    conserved(after.flows);
    expect(after.bytesDelivered).toBe(100_000);
    // the lab's timeline: the cut, both ends redirected, the mend, both restored
    const log = (await vnetlab(['events', '--json'], { labDir: dir })).stdout.split('\n').filter((x) => x).map((x) => JSON.parse(x) as { kind: string; host: string });
    const at = (kind: string, host?: string) => log.findIndex((e) => e.kind === kind && (host === undefined || e.host === host));
    const cutAt = at('link-cut');
    const mendAt = at('link-mended');
    expect(cutAt, log.map((e) => e.kind).join(', ')).toBeGreaterThanOrEqual(0);
    expect(mendAt).toBeGreaterThan(cutAt);
    for (const host of ['host-a', 'host-b']) {
      expect(at('fault-redirected', host), host).toBeGreaterThan(cutAt);
      expect(at('fault-redirected', host), host).toBeLessThan(mendAt);
      expect(at('fault-restored', host), host).toBeGreaterThan(mendAt);
    }
  }, 300_000);

  it('names the link it cannot find', async () => {
    const { dir } = await lab();
    const r = await vnetlab(['fail', 'link', 'nowhere'], { labDir: dir });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/no link "nowhere"/);
  });
});
