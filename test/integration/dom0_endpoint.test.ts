// The driver domain as an endpoint (examples/dom0-receive.yaml): dom0 of host-a has an address
// of its own on its bridge; guests of both hosts ping it, and a TCP transfer to it delivers
// every byte through dom0's own stack — no netback, no guest — with the work charged to dom0.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { example, startLab, vnetlabJson } from '../src/lab_kit.js';
import { conserved, type BulkJson } from '../chaos/chaos_kit.js';

interface Ledgered extends BulkJson { ledger: Array<{ host: string; domain: string; primitive: string; ops: number }> }

describe('the driver domain receiving itself (examples/dom0-receive.yaml)', () => {
  let dir: string;
  let down: () => Promise<unknown>;

  beforeAll(async () => {
    ({ dir, down } = await startLab(example('dom0-receive.yaml')));
  });

  afterAll(async () => {
    await down?.();
  });

  it('answers ping from a guest on its own host and from one across the wire', async () => {
    for (const src of ['vm-a1', 'vm-b1']) {
      const r = await vnetlabJson<{ sent: number; received: number }>(['ping', src, 'host-a/dom0', '--count', '2'], dir);
      expect(r.received, src).toBe(2);
    }
  });

  it('takes a TCP transfer up its own stack: every byte delivered, stack_rx charged to dom0, nothing to netback', async () => {
    const r = await vnetlabJson<Ledgered>(['bulk', 'vm-b1', 'host-a/dom0', '--proto', 'tcp', '--bytes', '400000'], dir);
    expect(r.bytesDelivered).toBe(400_000);
    conserved(r.flows);
    const ops = (domain: string, primitive: string) => r.ledger.filter((x) => x.host === 'host-a' && x.domain === domain && x.primitive === primitive).reduce((n, x) => n + x.ops, 0);
    const segments = Math.ceil(400_000 / 1448);
    expect(ops('dom0', 'stack_rx')).toBeGreaterThanOrEqual(segments);
    expect(ops('dom0', 'nic_driver_rx')).toBeGreaterThanOrEqual(segments);
    expect(ops('dom0', 'netback_rx')).toBe(0);
    // its kernel has superpages: the data TLB finds its pages in one entry
    expect(ops('dom0', 'tlb_miss')).toBeLessThan(10);
    // the sending guest's kernel is on 4 KB pages: it walks
    expect(r.ledger.filter((x) => x.host === 'host-b' && x.primitive === 'tlb_miss').reduce((n, x) => n + x.ops, 0)).toBeGreaterThan(0);
  });

  it('refuses a driver domain without an address as a destination, by name', async () => {
    await expect(vnetlabJson(['bulk', 'vm-a1', 'host-b/dom0', '--proto', 'udp', '--bytes', '1000'], dir)).rejects.toThrow(/no guest "host-b\/dom0"/);
  });
});
