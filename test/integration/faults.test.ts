// Fault injection: a failed NIC drops what it would carry, every frame is accounted for with
// its reason, and a repaired NIC carries traffic again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { example, startLab, vnetlab, vnetlabJson } from '../src/lab_kit.js';

interface BulkJson { flows: Array<{ sentFrames: number; deliveredFrames: number; inFlight: number; drops: Record<string, number> }> }

describe('failing and repairing a NIC', () => {
  let dir: string;
  let down: () => Promise<{ code: number }>;
  beforeAll(async () => {
    // the guests stay where they are (test/chaos/evacuation.test.ts moves them)
    ({ dir, down } = await startLab(example('two-hosts.yaml'), ['--no-auto-migrate']));
    // resolve ARP first, so that the bulk below is nothing but the flow's own datagrams
    await vnetlabJson(['ping', 'vm-a1', 'vm-b1', '--count', '1'], dir);
  });
  afterAll(async () => {
    await down();
  });

  it('with the receiver\'s NIC down a datagram is dropped there with its reason until the fault agent redirects, then delivered; none is lost silently', async () => {
    expect((await vnetlab(['fail', 'nic', 'host-b/eth0'], { labDir: dir })).stdout).toMatch(/link DOWN/);
    const r = await vnetlab(['bulk', 'vm-a1', 'vm-b1', '--proto', 'udp', '--bytes', '150000', '--json'], { labDir: dir });
    const f = (JSON.parse(r.stdout) as BulkJson).flows[0]!;
    // every frame delivered (through host-a's driver domain, host-b's temporary backend) or dropped at the dead link
    expect(f.deliveredFrames + (f.drops['nic_link_down'] ?? 0)).toBe(f.sentFrames);
    expect(Object.keys(f.drops).filter((k) => k !== 'nic_link_down')).toEqual([]);
    expect(f.inFlight).toBe(0);
  });

  it('a repaired NIC carries traffic again', async () => {
    expect((await vnetlab(['repair', 'nic', 'host-b/eth0'], { labDir: dir })).stdout).toMatch(/link up/);
    const p = await vnetlabJson<{ received: number }>(['ping', 'vm-a1', 'vm-b1', '--count', '2'], dir);
    expect(p.received).toBe(2);
  });

  it('a NIC that does not exist is named in the error', async () => {
    const r = await vnetlab(['fail', 'nic', 'host-b/eth9'], { labDir: dir });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/no NIC "eth9" on host-b/);
  });
});
