// pv's virtual offloads (Menon et al. 2006) end to end: two pv guests on one host, one with
// checksum offload and TSO on its interface and one without, each sending a TCP bulk through
// the same driver domain and a NIC that inserts checksums and cuts segments. Every byte
// arrives, and the offloading guest pays fewer cycles per byte.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLab, vnetlabJson } from '../src/lab_kit.js';

interface BulkJson {
  bytesSent: number;
  bytesDelivered: number;
  flows: Array<{ flow: string; sentFrames: number; deliveredFrames: number; drops: Record<string, number>; inFlight: number }>;
  ledger: Array<{ host: string; domain: string; primitive: string; cycles: number; ops: number }>;
}

const TOPOLOGY = `name: offload
hosts:
  - name: host-a
    cpus: { count: 4, hz: 2.8e9 }
    memory_mib: 256
    nics:
      - { name: eth0, rate_bps: 1e9, offload: { csum: true, tso: true } }
    guests:
      - { name: vm-off, memory_mib: 16, vcpus: [1], interfaces: [{ arch: pv, ip: 10.0.0.1 }] }
      - { name: vm-on, memory_mib: 16, vcpus: [2], interfaces: [{ arch: pv, ip: 10.0.0.2, offload: { csum: true, tso: true } }] }
  - name: host-b
    cpus: { count: 4, hz: 28e9 }
    memory_mib: 256
    nics:
      - { name: eth0, rate_bps: 1e9, queue_sets: 3 }
    guests:
      - { name: sink-1, memory_mib: 16, vcpus: [1], interfaces: [{ arch: multiqueue, ip: 10.0.1.1 }] }
      - { name: sink-2, memory_mib: 16, vcpus: [2], interfaces: [{ arch: multiqueue, ip: 10.0.1.2 }] }
links:
  - { a: host-a/eth0, b: host-b/eth0 }
`;
const BYTES = 1_000_000;

describe('pv with virtual checksum offload and TSO (csum+tso) against pv without', () => {
  let dir: string;
  let down: () => Promise<{ code: number }>;
  const file = join(mkdtempSync(join(tmpdir(), 'vnetlab-offload-')), 'offload.yaml');
  const runs = new Map<string, BulkJson>();

  beforeAll(async () => {
    writeFileSync(file, TOPOLOGY);
    ({ dir, down } = await startLab(file));
    runs.set('off', await vnetlabJson<BulkJson>(['bulk', 'vm-off', 'sink-1', '--proto', 'tcp', '--bytes', String(BYTES)], dir));
    runs.set('on', await vnetlabJson<BulkJson>(['bulk', 'vm-on', 'sink-2', '--proto', 'tcp', '--bytes', String(BYTES)], dir));
  }, 120_000);
  afterAll(async () => {
    await down?.();
    rmSync(join(file, '..'), { recursive: true, force: true });
  });

  const guest = (run: string, domain: string, primitive?: string) =>
    runs.get(run)!.ledger.filter((x) => x.host === 'host-a' && x.domain === domain && (!primitive || x.primitive === primitive));
  const cycles = (rows: BulkJson['ledger']) => rows.reduce((n, x) => n + x.cycles, 0);

  it('delivers every byte, with or without the offloads, and the counters balance', () => {
    for (const run of ['off', 'on']) {
      const r = runs.get(run)!;
      expect(r.bytesDelivered, run).toBe(BYTES);
      const f = r.flows.find((x) => x.flow.startsWith('tcp 10.0.0.'))!;
      expect(f.deliveredFrames, run).toBe(f.sentFrames); // a TSO segment counts as the frames it becomes
      expect(f.inFlight, run).toBe(0);
    }
  });

  it('costs the offloading guest fewer cycles per byte: no checksum in software, per-segment work once per large segment', () => {
    const off = cycles(guest('off', 'vm-off')) / BYTES;
    const on = cycles(guest('on', 'vm-on')) / BYTES;
    expect(on).toBeLessThan(off);
    // the guest without offloads checksums every byte it sends; the other one only its ICMP probe
    expect(cycles(guest('off', 'vm-off', 'checksum_byte'))).toBeGreaterThan(0.9 * BYTES * 0.9);
    expect(cycles(guest('on', 'vm-on', 'checksum_byte'))).toBeLessThan(100);
    const stackTx = (run: string, d: string) => guest(run, d, 'stack_tx').reduce((n, x) => n + x.ops, 0);
    expect(stackTx('on', 'vm-on')).toBeLessThan(stackTx('off', 'vm-off') / 3);
    // the NIC did the segmenting and checksumming: dom0 did none of it in software
    expect(cycles(guest('on', 'dom0', 'gso_segment')) + cycles(guest('on', 'dom0', 'checksum_byte'))).toBe(0);
  });
});
