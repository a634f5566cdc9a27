// The paravirtual path end to end: real nats-server, real service processes, the CLI.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downLeavingNothing, example, flowTotals, metricValue, startLab, vnetlab, vnetlabJson, type CliResult, type LabInfo } from '../src/lab_kit.js';

interface PingJson { sent: number; received: number; replies: Array<{ seq: number; rttNs: number; ok: boolean }> }
interface BulkJson {
  bytesSent: number;
  bytesDelivered: number;
  throughputBps: number;
  startNs: number;
  endNs: number;
  flows: Array<{ flow: string; sentFrames: number; deliveredFrames: number; drops: Record<string, number>; inFlight: number }>;
  cpus: Array<{ host: string; pcpu: string; domain: string; util: number }>;
  ledger: Array<{ host: string; pcpu: string; domain: string; primitive: string; cycles: number; ops: number }>;
}

describe('two hosts, PV guests, one link', () => {
  let lab: LabInfo;
  let dir: string;
  let down: () => Promise<CliResult>;

  beforeAll(async () => {
    ({ lab, dir, down } = await startLab(example('two-hosts.yaml')));
  });

  afterAll(async () => {
    await downLeavingNothing(lab, down);
  });

  it('status lists every service healthy', async () => {
    const st = await vnetlabJson<{ services: Array<{ name: string; healthy: boolean }> }>(['status'], dir);
    expect(st.services.map((s) => s.name).sort()).toEqual(lab.services.map((s) => s.name).sort());
    expect(st.services.every((s) => s.healthy)).toBe(true);
  });

  it('a guest pings a guest on its own host through the bridge', async () => {
    const r = await vnetlabJson<PingJson>(['ping', 'vm-a1', 'vm-a2', '--count', '3'], dir);
    expect(r.received).toBe(3);
    expect(r.replies.every((p) => p.ok && p.rttNs > 0)).toBe(true);
  });

  it('a guest pings a guest on the other host, and the rtt includes both link latencies', async () => {
    const r = await vnetlabJson<PingJson>(['ping', 'vm-a1', 'vm-b2', '--count', '3'], dir);
    expect(r.received).toBe(3);
    // two crossings of a 50 µs link at least
    for (const p of r.replies) expect(p.rttNs).toBeGreaterThan(100_000);
  });

  it('a UDP bulk transfer across hosts delivers every datagram and the counters balance', async () => {
    const r = await vnetlabJson<BulkJson>(['bulk', 'vm-a1', 'vm-b1', '--proto', 'udp', '--bytes', '1000000'], dir);
    const data = r.flows[0];
    expect(data.sentFrames).toBe(Math.ceil(1_000_000 / 1472));
    const dropped = Object.values(data.drops).reduce((a, b) => a + b, 0);
    expect(data.deliveredFrames + dropped + data.inFlight).toBe(data.sentFrames);
    expect(data.inFlight).toBe(0);
    // the modelled throughput cannot beat the 1 Gb/s wire (payload share of a 1538-byte wire frame)
    expect(r.throughputBps).toBeGreaterThan(0);
    expect(r.throughputBps).toBeLessThanOrEqual(1e9 * (1472 / 1538));
  });

  it('a TCP bulk transfer to a page-flipping receiver delivers every byte', async () => {
    const r = await vnetlabJson<BulkJson>(['bulk', 'vm-a2', 'vm-b2', '--proto', 'tcp', '--bytes', '500000'], dir);
    expect(r.bytesDelivered).toBe(500_000);
    expect(r.endNs).toBeGreaterThan(r.startNs);
    // the receiving driver domain really flipped pages and the sender's really grant-copied
    expect(r.ledger.some((x) => x.host === 'host-b' && x.primitive === 'page_flip' && x.ops > 0)).toBe(true);
    expect(r.ledger.some((x) => x.host === 'host-a' && x.primitive === 'grant_copy_op' && x.ops > 0)).toBe(true);
  });

  it('bulk reports CPU per physical CPU with the hypervisor share and idle', async () => {
    const r = await vnetlabJson<BulkJson>(['bulk', 'vm-b1', 'vm-a1', '--proto', 'udp', '--bytes', '300000'], dir);
    const cpu0 = r.cpus.filter((c) => c.host === 'host-b' && c.pcpu === 'cpu0');
    expect(cpu0.some((c) => c.domain === 'xen' && c.util > 0)).toBe(true);
    expect(cpu0.some((c) => c.domain === 'dom0' && c.util > 0)).toBe(true);
    const idle = cpu0.find((c) => c.domain === 'idle')!.util;
    const busy = cpu0.filter((c) => c.domain !== 'idle').reduce((a, c) => a + c.util, 0);
    expect(idle + busy).toBeGreaterThan(0.999);
  });

  it('the flow counters in /metrics, summed over every service, obey the conservation rule', async () => {
    const r = await vnetlabJson<BulkJson>(['bulk', 'vm-a2', 'vm-b1', '--proto', 'udp', '--bytes', '200000'], dir);
    const { sent, delivered, dropped } = await flowTotals(lab, r.flows[0].flow);
    expect(sent).toBe(Math.ceil(200_000 / 1472));
    expect(delivered + dropped).toBe(sent);
  });

  it('every service exports its modelled time', async () => {
    for (const s of lab.services) {
      const text = await (await fetch(s.metricsUrl)).text();
      expect(metricValue(text, 'vnetlab_modelled_time_seconds'), s.name).toBeGreaterThanOrEqual(0);
    }
  });

  it('unknown guests get a clear error and a non-zero exit', async () => {
    const r = await vnetlab(['ping', 'vm-a1', 'nosuch'], { labDir: dir });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/no guest "nosuch"/);
  });
});
