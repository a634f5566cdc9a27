// Live migration between two hosts (seed 004): a guest moves while TCP and UDP traffic run to
// and from it; its memory arrives byte for byte, its interface reconnects on the target's
// netback through xenstore, the network finds it there, and every frame of every flow is
// accounted for.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import { example, metricValue, natsCredentials, startLab, vnetlab, vnetlabJson, type LabInfo } from '../src/lab_kit.js';

interface Round { round: number; phase: string; pages: number; bytes: number; startNs: number; endNs: number; dirtiedDuring: number }
interface Report {
  guest: string; from: string; to: string; sourceDomid: number; targetDomid: number; bandwidthBps: number; stopReason: string;
  rounds: Round[]; startNs: number; suspendedNs: number; resumedNs: number; totalSeconds: number; downtimeSeconds: number;
  framesQueued: number; sourceSha256: string; targetSha256: string; pagesTotal: number;
  traffic: Array<{
    phase: string; startNs: number; endNs: number; migrationBytes: number; framesSent: number; framesDelivered: number; drops: Record<string, number>;
    fromGuestSent: number; fromGuestDelivered: number; toGuestSent: number; toGuestDelivered: number;
  }>;
}
interface Flow { flow: string; sentFrames: number; deliveredFrames: number; inFlight: number; drops: Record<string, number> }
interface BulkJson { bytesSent: number; bytesDelivered: number; flows: Flow[] }

const PAGE_WIRE_BYTES = 4096 + 8;

/** sent = delivered + Σ drops(reason) + in flight, nothing in flight once settled, and every drop named. */
function expectConserved(flows: Flow[]): void {
  for (const f of flows) {
    const dropped = Object.values(f.drops).reduce((a, b) => a + b, 0);
    expect(f.sentFrames, f.flow).toBe(f.deliveredFrames + dropped + f.inFlight);
    expect(f.inFlight, f.flow).toBe(0);
    for (const reason of Object.keys(f.drops)) expect(reason.length, f.flow).toBeGreaterThan(0);
  }
}

async function xenstore(dir: string, lab: LabInfo, key: string): Promise<string | undefined> {
  const nc = await connect({ servers: lab.natsUrl, ...natsCredentials(dir) });
  try {
    const e = await (await new Kvm(nc).open('xenstore')).get(key);
    return e && e.operation === 'PUT' ? e.string() : undefined;
  } finally {
    await nc.close();
  }
}

describe('live migration of a pv guest between two hosts', () => {
  let dir: string;
  let lab: LabInfo;
  let down: () => Promise<{ code: number }>;
  beforeAll(async () => {
    ({ dir, lab, down } = await startLab(example('two-hosts.yaml')));
    // ARP resolved on every path the traffic below takes
    await vnetlabJson(['ping', 'vm-a1', 'vm-b2', '--count', '1'], dir);
    await vnetlabJson(['ping', 'vm-b1', 'vm-a1', '--count', '1'], dir);
  }, 120_000);
  afterAll(async () => {
    await down();
  });

  it('moves vm-a1 to host-b under a TCP stream from it and UDP to it: memory identical, rounds consistent, TCP complete, every lost datagram with its reason', async () => {
    const tcp = vnetlab(['bulk', 'vm-a1', 'vm-b2', '--proto', 'tcp', '--bytes', '6000000', '--json'], { labDir: dir, timeoutMs: 300_000 });
    const udp = vnetlab(['bulk', 'vm-b1', 'vm-a1', '--proto', 'udp', '--bytes', '3000000', '--json'], { labDir: dir, timeoutMs: 300_000 });
    // migrate once the TCP stream is under way (its receiver has taken frames)
    const b2 = lab.services.find((s) => s.name === 'vm-b2')!;
    for (;;) {
      const text = await (await fetch(b2.metricsUrl)).text();
      if (metricValue(text, 'vnetlab_flow_delivered_frames_total') > 100) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const m = await vnetlab(['migrate', 'vm-a1', '--to', 'host-b', '--json'], { labDir: dir, timeoutMs: 300_000 });
    expect(m.code, m.stderr).toBe(0);
    const r = JSON.parse(m.stdout) as Report;
    // progress went to stderr while it ran
    expect(m.stderr).toMatch(/pre-copy round 1: 4096 pages/);

    // the memory arrived byte for byte
    expect(r.sourceSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(r.targetSha256).toBe(r.sourceSha256);
    // rounds: every page first, then what was dirtied, then the stop-and-copy, back to back in modelled time
    expect(r.rounds[0]).toMatchObject({ round: 1, phase: 'precopy', pages: 4096 });
    expect(r.rounds.at(-1)!.phase).toBe('stop_and_copy');
    expect(r.rounds.filter((x) => x.phase === 'stop_and_copy')).toHaveLength(1);
    expect(['converged', 'round_limit', 'sent_too_much']).toContain(r.stopReason);
    expect(r.rounds.reduce((n, x) => n + x.pages, 0)).toBe(r.pagesTotal);
    r.rounds.forEach((x, i) => {
      expect(x.round).toBe(i + 1);
      expect(x.bytes).toBe(x.pages * PAGE_WIRE_BYTES);
      // a page takes its wire bytes at the reserved bandwidth
      expect(x.endNs - x.startNs).toBeCloseTo((x.bytes * 8 * 1e9) / r.bandwidthBps, -1);
      if (i > 0 && x.phase === 'precopy') {
        expect(x.startNs).toBeCloseTo(r.rounds[i - 1]!.endNs, -1);
        // a round sends what was dirtied during the one before (and since)
        expect(x.pages).toBeGreaterThanOrEqual(r.rounds[i - 1]!.dirtiedDuring);
      }
    });
    const last = r.rounds.at(-1)!;
    expect(last.startNs).toBeGreaterThanOrEqual(r.suspendedNs - 1);
    // downtime: suspended until running on the target, which includes the stop-and-copy
    expect(r.downtimeSeconds * 1e9).toBeCloseTo(r.resumedNs - r.suspendedNs, -1);
    expect(r.resumedNs).toBeGreaterThanOrEqual(last.endNs - 1);
    expect(r.totalSeconds * 1e9).toBeCloseTo(r.resumedNs - r.startNs, -1);
    expect(r.downtimeSeconds).toBeLessThan(r.totalSeconds);
    expect(r.bandwidthBps).toBe(5e8); // half the 1 Gb/s link by default
    // the guest's traffic in each phase, the phases back to back in modelled time
    expect(r.traffic.map((t) => t.phase)).toEqual(['precopy', 'stop_and_copy', 'resumed']);
    const [pre, stop, after] = r.traffic as [Report['traffic'][0], Report['traffic'][0], Report['traffic'][0]];
    expect(pre.migrationBytes + stop.migrationBytes).toBe(r.pagesTotal * PAGE_WIRE_BYTES);
    expect(after.migrationBytes).toBe(0);
    expect([pre.startNs, pre.endNs, stop.endNs]).toEqual([r.startNs, r.suspendedNs, r.resumedNs]);
    expect(stop.startNs).toBe(pre.endNs);
    expect(after.startNs).toBe(stop.endNs);
    expect(after.endNs).toBeGreaterThanOrEqual(after.startNs);
    for (const t of r.traffic) {
      expect(t.framesSent, t.phase).toBe(t.fromGuestSent + t.toGuestSent);
      expect(t.framesDelivered, t.phase).toBe(t.fromGuestDelivered + t.toGuestDelivered);
    }
    // both streams ran while the guest ran at the source
    expect(pre.fromGuestSent).toBeGreaterThan(0);
    expect(pre.toGuestDelivered).toBeGreaterThan(0);
    // suspended: nothing reaches the guest, and what it makes meanwhile (a retransmission) is
    // held, not put on the wire — it is among the frames queued while suspended
    expect(stop.toGuestDelivered).toBe(0);
    expect(stop.fromGuestSent).toBeLessThanOrEqual(r.framesQueued);
    // resumed: the held frames went out first and landed, and the guest receives again
    expect(after.fromGuestDelivered + Object.values(after.drops).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(r.framesQueued);

    // TCP delivered every byte (in order: the sink takes only the next sequence number)
    const t = await tcp;
    expect(t.code, t.stderr).toBe(0);
    const tj = JSON.parse(t.stdout) as BulkJson;
    expect(tj.bytesDelivered).toBe(6_000_000);
    expectConserved(tj.flows);
    // UDP: every datagram delivered or dropped with its reason
    const u = await udp;
    expect(u.code, u.stderr).toBe(0);
    expectConserved((JSON.parse(u.stdout) as BulkJson).flows);

    // the guest now answers from host-b: its vif is connected on host-b's netback, gone from host-a's
    expect(await xenstore(dir, lab, `host-b.local.domain.0.backend.vif.${r.targetDomid}.0.state`)).toBe('4');
    expect(await xenstore(dir, lab, `host-b.local.domain.${r.targetDomid}.device.vif.0.state`)).toBe('4');
    expect(await xenstore(dir, lab, `host-a.local.domain.0.backend.vif.${r.sourceDomid}.0.state`)).toBeUndefined();
    const local = await vnetlabJson<{ received: number; replies: Array<{ rttNs: number }> }>(['ping', 'vm-b1', 'vm-a1', '--count', '2'], dir);
    const remote = await vnetlabJson<{ received: number; replies: Array<{ rttNs: number }> }>(['ping', 'vm-a2', 'vm-a1', '--count', '2'], dir);
    expect(local.received).toBe(2);
    expect(remote.received).toBe(2);
    // same host now: no wire, no NICs between them
    expect(Math.max(...local.replies.map((x) => x.rttNs))).toBeLessThan(Math.min(...remote.replies.map((x) => x.rttNs)));

    // every phase on the hypervisor's metrics
    const hvA = lab.services.find((s) => s.name === 'host-a/hypervisor')!;
    const text = await (await fetch(hvA.metricsUrl)).text();
    expect(metricValue(text, 'vnetlab_migration_phase', { domain: 'vm-a1' })).toBe(3);
    expect(metricValue(text, 'vnetlab_migration_pages_total', { domain: 'vm-a1' })).toBe(r.pagesTotal);
    expect(metricValue(text, 'vnetlab_migration_downtime_seconds', { domain: 'vm-a1' })).toBeCloseTo(r.downtimeSeconds, 6);
  }, 600_000);

  it('migrates it back, moves a page-flip guest too, and refuses what cannot be done with the reason', async () => {
    const back = await vnetlabJson<Report>(['migrate', 'vm-a1', '--to', 'host-a', '--max-rounds', '1'], dir);
    expect(back.from).toBe('host-b');
    expect(back.targetSha256).toBe(back.sourceSha256);
    expect(back.rounds.filter((x) => x.phase === 'precopy')).toHaveLength(1);
    expect((await vnetlabJson<{ received: number }>(['ping', 'vm-b1', 'vm-a1', '--count', '1'], dir)).received).toBe(1);
    // a guest that receives by page flip: pages it gave away travel as pages with no frame
    const flip = await vnetlabJson<Report>(['migrate', 'vm-a2', '--to', 'host-b'], dir);
    expect(flip.targetSha256).toBe(flip.sourceSha256);
    expect((await vnetlabJson<{ received: number }>(['ping', 'vm-a1', 'vm-a2', '--count', '1'], dir)).received).toBe(1);
    const same = await vnetlab(['migrate', 'vm-a1', '--to', 'host-a'], { labDir: dir });
    expect(same.code).not.toBe(0);
    expect(same.stderr).toMatch(/already runs on host-a/);
    const nohost = await vnetlab(['migrate', 'vm-a1', '--to', 'host-z'], { labDir: dir });
    expect(nohost.stderr).toMatch(/no host "host-z"/);
    const tooMuch = await vnetlab(['migrate', 'vm-a1', '--to', 'host-b', '--bandwidth', '2e9'], { labDir: dir });
    expect(tooMuch.stderr).toMatch(/cannot reserve 2000 Mb\/s/);
  }, 300_000);
});

interface TraceJson { delivered: boolean; hops: Array<{ service: string; step: string; detail: string }> }

/** The first VXLAN encapsulation `service`'s vswitch made for a traced frame ("VXLAN vni 100 a → b, n bytes"). */
const encapFrom = (t: TraceJson, service: string) => t.hops.find((h) => h.service === service && h.step === 'encap')?.detail ?? `no encap on ${service}: ${t.hops.map((h) => `${h.service}/${h.step}`).join(', ')}`;

describe('live migration on a VXLAN overlay', () => {
  let dir: string;
  let down: () => Promise<{ code: number }>;
  beforeAll(async () => {
    ({ dir, down } = await startLab(example('overlay.yaml')));
  }, 120_000);
  afterAll(async () => {
    await down();
  });

  it('the guest answers in its VNI from the host it moved to: the vswitches learn it behind the new VTEP from its gratuitous ARP', async () => {
    expect((await vnetlabJson<{ received: number }>(['ping', 'vm-c1', 'vm-a1', '--count', '1'], dir)).received).toBe(1);
    // host-c's vswitch sends a frame for vm-a1 to the VTEP it learned it behind, host-a's
    const before = await vnetlabJson<TraceJson>(['trace', 'vm-c1', 'vm-a1'], dir);
    expect(before.delivered).toBe(true);
    expect(encapFrom(before, 'host-c/dom0')).toMatch(/172\.16\.0\.3 → 172\.16\.0\.1,/);
    const r = await vnetlabJson<Report>(['migrate', 'vm-a1', '--to', 'host-b'], dir);
    expect(r.targetSha256).toBe(r.sourceSha256);
    // the first frame from host-c after the move: nothing but the guest's gratuitous ARP (flooded
    // in its VNI to every VTEP) has told host-c's vswitch where vm-a1 is now; it goes straight to
    // host-b's VTEP, not to host-a and not flooded, and arrives
    const after = await vnetlabJson<TraceJson>(['trace', 'vm-c1', 'vm-a1'], dir);
    expect(after.delivered).toBe(true);
    expect(encapFrom(after, 'host-c/dom0')).toMatch(/172\.16\.0\.3 → 172\.16\.0\.2,/);
    const requestHops = after.hops.slice(0, after.hops.findIndex((h) => h.service === 'vm-a1'));
    expect(requestHops.filter((h) => h.service === 'host-c/dom0' && h.step === 'flood')).toEqual([]);
    expect(requestHops.some((h) => h.service === 'host-a/dom0')).toBe(false);
    expect(requestHops.some((h) => h.service === 'host-b/dom0' && h.step === 'decap')).toBe(true);
    // from a third host (through host-b's VTEP now) and from its new neighbour in the VNI
    const far = await vnetlabJson<{ received: number; replies: Array<{ rttNs: number }> }>(['ping', 'vm-c1', 'vm-a1', '--count', '2'], dir);
    const near = await vnetlabJson<{ received: number; replies: Array<{ rttNs: number }> }>(['ping', 'vm-b1', 'vm-a1', '--count', '2'], dir);
    expect(far.received).toBe(2);
    expect(near.received).toBe(2);
    expect(Math.max(...near.replies.map((x) => x.rttNs))).toBeLessThan(Math.min(...far.replies.map((x) => x.rttNs)));
  }, 300_000);
});
