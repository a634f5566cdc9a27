// The multiqueue architecture next to PV on the same hosts: a guest with its own NIC queue
// set gets its bytes moved by the NIC straight to and from its granted pages.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { example, startLab, vnetlabJson, type LabInfo } from '../src/lab_kit.js';

interface BulkJson {
  bytesDelivered: number;
  throughputBps: number;
  flows: Array<{ flow: string; sentFrames: number; deliveredFrames: number; inFlight: number; drops: Record<string, number> }>;
  ledger: Array<{ host: string; domain: string; primitive: string; cycles: number; ops: number }>;
}

const ops = (r: BulkJson, host: string, domain: string, primitive: string) =>
  r.ledger.filter((x) => x.host === host && x.domain === domain && x.primitive === primitive).reduce((n, x) => n + x.ops, 0);

describe('multiqueue guests beside PV guests', () => {
  let lab: LabInfo;
  let dir: string;
  let down: () => Promise<{ code: number }>;

  beforeAll(async () => {
    ({ lab, dir, down } = await startLab(example('mixed.yaml')));
  });
  afterAll(async () => {
    await down();
  });

  it('multiqueue guests ping across hosts, and reach a bridged guest on their own host through the NIC', async () => {
    expect((await vnetlabJson<{ received: number }>(['ping', 'mq-a', 'mq-b', '--count', '2'], dir)).received).toBe(2);
    expect((await vnetlabJson<{ received: number }>(['ping', 'mq-a', 'pv-a', '--count', '2'], dir)).received).toBe(2);
    expect(lab.services.length).toBe(11);
  });

  it('a UDP bulk between multiqueue guests moves no byte through dom0: grant maps, no grant copies, no bridge', async () => {
    const r = await vnetlabJson<BulkJson>(['bulk', 'mq-a', 'mq-b', '--proto', 'udp', '--bytes', '1000000'], dir);
    const f = r.flows[0];
    expect(f.deliveredFrames).toBe(f.sentFrames);
    for (const host of ['host-a', 'host-b']) {
      expect(ops(r, host, 'xen', 'grant_map')).toBeGreaterThanOrEqual(f.sentFrames);
      expect(ops(r, host, 'xen', 'grant_copy_op')).toBe(0);
      expect(ops(r, host, 'dom0', 'bridge_lookup')).toBe(0);
      expect(ops(r, host, 'dom0', 'copy_byte')).toBe(0);
    }
  });

  it('a PV bulk on the same hosts still goes through the bridge with grant copies', async () => {
    const r = await vnetlabJson<BulkJson>(['bulk', 'pv-a', 'pv-b', '--proto', 'udp', '--bytes', '500000'], dir);
    const f = r.flows[0];
    expect(f.deliveredFrames).toBe(f.sentFrames);
    expect(ops(r, 'host-a', 'xen', 'grant_copy_op')).toBeGreaterThanOrEqual(f.sentFrames);
    expect(ops(r, 'host-b', 'dom0', 'bridge_lookup')).toBeGreaterThanOrEqual(f.sentFrames);
  });

  it('a TCP bulk from a bridged guest to a multiqueue guest delivers every byte', async () => {
    const r = await vnetlabJson<BulkJson>(['bulk', 'pv-a', 'mq-b', '--proto', 'tcp', '--bytes', '500000'], dir);
    expect(r.bytesDelivered).toBe(500_000);
  });
});
