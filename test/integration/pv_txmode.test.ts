// pv transmit without copying the payload (Menon et al. 2006) end to end: a guest whose
// netback maps its TX pages into dom0 (tx_mode: map, Menon's baseline) and one whose netback
// copies only the header and maps the rest for the NIC alone (tx_mode: noremap), each sending
// TCP across hosts. Every byte arrives, the flow counters balance, and the ledger shows the
// NIC sending from the guests' pages: no payload copied in dom0, grant maps instead.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flowTotals, startLab, vnetlabJson, type LabInfo } from '../src/lab_kit.js';

interface BulkJson {
  bytesSent: number;
  bytesDelivered: number;
  flows: Array<{ flow: string; sentFrames: number; deliveredFrames: number; drops: Record<string, number>; inFlight: number }>;
  ledger: Array<{ host: string; domain: string; primitive: string; cycles: number; ops: number; bytes?: number }>;
}

const TOPOLOGY = `name: txmode
hosts:
  - name: host-a
    cpus: { count: 4, hz: 2.8e9 }
    memory_mib: 256
    nics:
      - { name: eth0, rate_bps: 1e9, offload: { csum: true, tso: true } }
    guests:
      - { name: vm-noremap, memory_mib: 16, vcpus: [1], interfaces: [{ arch: pv, ip: 10.0.0.1, tx_mode: noremap, offload: { csum: true, tso: true } }] }
      - { name: vm-map, memory_mib: 16, vcpus: [2], interfaces: [{ arch: pv, ip: 10.0.0.2, tx_mode: map }] }
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
/** netback's header copy in noremap mode (XEN_NETBACK_TX_COPY_LEN). */
const TX_COPY_LEN = 128;

describe('pv transmit by grant map and without remapping', () => {
  let lab: LabInfo;
  let dir: string;
  let down: () => Promise<{ code: number }>;
  const file = join(mkdtempSync(join(tmpdir(), 'vnetlab-txmode-')), 'txmode.yaml');
  const runs = new Map<string, BulkJson>();

  beforeAll(async () => {
    writeFileSync(file, TOPOLOGY);
    ({ lab, dir, down } = await startLab(file));
    runs.set('noremap', await vnetlabJson<BulkJson>(['bulk', 'vm-noremap', 'sink-1', '--proto', 'tcp', '--bytes', String(BYTES)], dir));
    runs.set('map', await vnetlabJson<BulkJson>(['bulk', 'vm-map', 'sink-2', '--proto', 'tcp', '--bytes', String(BYTES)], dir));
  }, 180_000);
  afterAll(async () => {
    await down?.();
    rmSync(join(file, '..'), { recursive: true, force: true });
  });

  const rows = (run: string, domain: string, primitive: string) =>
    runs.get(run)!.ledger.filter((x) => x.host === 'host-a' && x.domain === domain && x.primitive === primitive);
  const ops = (run: string, domain: string, primitive: string) => rows(run, domain, primitive).reduce((n, x) => n + x.ops, 0);
  const bytes = (run: string, domain: string, primitive: string) => rows(run, domain, primitive).reduce((n, x) => n + (x.bytes ?? 0), 0);
  const dataFlow = (run: string) => runs.get(run)!.flows.find((x) => x.flow.startsWith('tcp 10.0.0.'))!;

  it('delivers every byte in order, and the flow counters balance', () => {
    for (const run of ['noremap', 'map']) {
      const r = runs.get(run)!;
      expect(r.bytesDelivered, run).toBe(BYTES); // the TCP sink counts only in-order bytes
      const f = dataFlow(run);
      const dropped = Object.values(f.drops).reduce((a, b) => a + b, 0);
      expect(f.deliveredFrames + dropped + f.inFlight, run).toBe(f.sentFrames);
      expect(f.inFlight, run).toBe(0);
    }
  });

  it('the flow counters summed over every service obey the conservation rule', async () => {
    for (const run of ['noremap', 'map']) {
      const { sent, delivered, dropped } = await flowTotals(lab, dataFlow(run).flow);
      expect(sent, run).toBeGreaterThan(0);
      expect(delivered + dropped, run).toBe(sent);
    }
  });

  // Every grant copy on host-a is either a TX header (noremap) or an ACK going up to the
  // sender (receive by copy): none moves more than a header's worth, so no payload was copied.
  // dom0's own copies are the clones of the flooded ARP request, one small frame each.
  const noPayloadCopied = (run: string) => {
    expect(bytes(run, 'xen', 'copy_byte'), run).toBeLessThanOrEqual(ops(run, 'xen', 'grant_copy_op') * TX_COPY_LEN);
    expect(bytes(run, 'xen', 'copy_byte'), run).toBeLessThan(BYTES / 10);
    expect(bytes(run, 'dom0', 'copy_byte'), run).toBeLessThan(1500);
  };

  it('noremap: dom0 copies no payload — only headers — and maps the rest for the device', () => {
    noPayloadCopied('noremap');
    const maps = ops('noremap', 'xen', 'grant_map_device');
    // with TSO a large segment is a chain of slots, each mapped: at least a map per 4 KiB sent
    expect(maps).toBeGreaterThanOrEqual(Math.floor(BYTES / 4096));
    expect(ops('noremap', 'xen', 'grant_unmap_device')).toBeGreaterThanOrEqual(maps - 256); // at most a ring's worth still in flight
    expect(ops('noremap', 'xen', 'grant_map')).toBe(0); // no host mapping: no remapping
    expect(ops('noremap', 'xen', 'grant_unmap')).toBe(0);
  });

  it('map: every TX slot is mapped into dom0 and unmapped after the NIC sent it; no payload copied', () => {
    noPayloadCopied('map');
    const maps = ops('map', 'xen', 'grant_map');
    expect(maps).toBeGreaterThanOrEqual(Math.ceil(BYTES / 1460));
    expect(ops('map', 'xen', 'grant_unmap')).toBeGreaterThanOrEqual(maps - 256); // at most a ring's worth still in flight
    expect(ops('map', 'xen', 'grant_map_device')).toBe(0);
  });
});
