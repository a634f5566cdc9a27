// A routing driver domain end to end (examples/router.yaml): dom0 of "dut" routes IPv4 between
// its two NICs and its guest's vif, with proxy ARP; the hosts on either side have no routes.
// Real nats-server, real service processes, the CLI — and tshark decoding the routed frames.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTopology } from '@vnetlab/topology';
import { example, startLab, vnetlab, vnetlabJson } from '../src/lab_kit.js';
import { conserved, type BulkJson } from '../chaos/chaos_kit.js';

interface TraceJson { delivered: boolean; hops: Array<{ component: string; step: string; detail: string; charges: Array<{ primitive: string }> }> }

function tshark(file: string, fields: string[]): Promise<string[][]> {
  return new Promise((res, rej) => {
    execFile('tshark', ['-r', file, '-o', 'ip.check_checksum:TRUE', '-Y', 'icmp', '-T', 'fields', '-E', 'separator=|', ...fields.flatMap((f) => ['-e', f])], (err, stdout, stderr) => {
      if (err) rej(new Error(`tshark failed: ${stderr || err.message}`));
      else res(stdout.trim().split('\n').filter(Boolean).map((l) => l.split('|')));
    });
  });
}

describe('a routing driver domain (examples/router.yaml)', () => {
  let dir: string;
  let down: () => Promise<unknown>;
  const scratch = mkdtempSync(join(tmpdir(), 'vnetlab-router-'));
  const topo = loadTopology(example('router.yaml'));
  const mac = (host: string, nic: string) => topo.hosts.find((h) => h.name === host)!.nics.find((n) => n.name === nic)!.mac;
  const guestMac = (name: string) => topo.hosts.flatMap((h) => h.guests).find((g) => g.name === name)!.interfaces[0]!.mac;

  beforeAll(async () => {
    ({ dir, down } = await startLab(example('router.yaml')));
  });

  afterAll(async () => {
    await down?.();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('routes between its two NICs and to its guest, both ways, with no route on the hosts around it', async () => {
    for (const [src, dst] of [['g', 's'], ['s', 'g'], ['g', 'vm1'], ['vm1', 's']]) {
      expect((await vnetlabJson<{ received: number }>(['ping', src!, dst!, '--count', '2'], dir)).received, `${src} → ${dst}`).toBe(2);
    }
  });

  it('a routed frame leaves with the next hop\'s MAC, the router\'s own as source, TTL 63 and a right header checksum', async () => {
    const file = join(scratch, 'link1.pcap');
    const cap = vnetlab(['capture', 'link1', '-w', file, '--count', '2', '--timeout', '30'], { labDir: dir, timeoutMs: 60_000 });
    await new Promise((r) => setTimeout(r, 1500)); // the services arm the capture
    expect((await vnetlabJson<{ received: number }>(['ping', 'g', 's', '--count', '1'], dir)).received).toBe(1);
    const c = await cap;
    expect(c.code, c.stderr).toBe(0);
    const rows = await tshark(file, ['icmp.type', 'eth.src', 'eth.dst', 'ip.ttl', 'ip.checksum.status']);
    const request = rows.find((r) => r[0] === '8');
    expect(request).toEqual(['8', mac('dut', 'eth1'), guestMac('s'), '63', '1']); // 1: Wireshark's "Good" (0 bad, 2 unverified)
    // the reply on this link has not been routed yet: s addressed it to the router
    expect(rows.find((r) => r[0] === '0')?.slice(1, 4)).toEqual([guestMac('s'), mac('dut', 'eth1'), '64']);
  });

  it('a trace shows the FIB lookup in dom0, charged ip_forward, and a UDP bulk through it balances', async () => {
    const t = await vnetlabJson<TraceJson>(['trace', 'g', 's'], dir);
    expect(t.delivered).toBe(true);
    const fib = t.hops.find((h) => h.component === 'router' && h.step === 'fib_lookup');
    expect(fib?.detail).toContain('TTL 64 → 63');
    expect(fib?.charges.map((c) => c.primitive)).toEqual(['ip_forward']);
    const b = await vnetlabJson<BulkJson>(['bulk', 'g', 's', '--proto', 'udp', '--bytes', '200000'], dir);
    expect(b.bytesDelivered).toBe(200_000);
    conserved(b.flows);
  });
});
