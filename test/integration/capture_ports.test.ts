// Captures at the ports of a Linux-bridge dom0 and at a NIC (examples/two-hosts.yaml): real
// nats-server, real service processes, the CLI, and tshark decoding what the capture wrote.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downLeavingNothing, example, startLab, vnetlab, vnetlabJson, type CliResult, type LabInfo } from '../src/lab_kit.js';
import { tshark } from '../src/tshark.js';

interface PingJson { sent: number; received: number }
interface BulkJson { bytesSent: number; bytesDelivered: number }
interface CaptureJson { point: string; kind: string; frames: Array<{ direction: string; summary: string; service: string }> }

const armed = () => new Promise((r) => setTimeout(r, 1500)); // the services arm a capture

describe('captures at bridge ports and NICs (examples/two-hosts.yaml)', () => {
  let lab: LabInfo;
  let dir: string;
  let down: () => Promise<CliResult>;
  const scratch = mkdtempSync(join(tmpdir(), 'vnetlab-capture-'));

  beforeAll(async () => {
    ({ lab, dir, down } = await startLab(example('two-hosts.yaml')));
  });

  afterAll(async () => {
    rmSync(scratch, { recursive: true, force: true });
    await downLeavingNothing(lab, down);
  });

  it('a bridge port shows a guest\'s frames in and out, and the uplink port the same frames toward the wire', async () => {
    const vif = join(scratch, 'vif.pcap');
    const up = join(scratch, 'uplink.pcap');
    const capVif = vnetlab(['capture', 'host-a/dom0/vm-a1', '-w', vif, '--timeout', '6', '--json'], { labDir: dir, timeoutMs: 60_000 });
    const capUp = vnetlab(['capture', 'host-a/dom0/eth0', '-w', up, '--timeout', '6', '--json'], { labDir: dir, timeoutMs: 60_000 });
    await armed();
    expect((await vnetlabJson<PingJson>(['ping', 'vm-a1', 'vm-b1', '--count', '2'], dir)).received).toBe(2);
    const [v, u] = await Promise.all([capVif, capUp]);
    expect(v.code, v.stderr).toBe(0);
    expect(u.code, u.stderr).toBe(0);
    const vj = JSON.parse(v.stdout) as CaptureJson;
    const uj = JSON.parse(u.stdout) as CaptureJson;
    expect([vj.point, vj.kind]).toEqual(['host-a/dom0/vif1.0', 'port']);
    expect(vj.frames.every((f) => f.service === 'host-a/dom0')).toBe(true);
    // the bridge receives vm-a1's requests on its vif and sends them out of eth0; the replies the other way
    const dirs = (c: CaptureJson, what: string) => c.frames.filter((f) => f.summary.includes(what)).map((f) => f.direction);
    expect(dirs(vj, 'echo request')).toEqual(['rx', 'rx']);
    expect(dirs(vj, 'echo reply')).toEqual(['tx', 'tx']);
    expect(dirs(uj, 'echo request')).toEqual(['tx', 'tx']);
    expect(dirs(uj, 'echo reply')).toEqual(['rx', 'rx']);
    for (const file of [vif, up]) {
      const rows = (await tshark(file, ['frame.protocols', 'eth.src', 'eth.dst', 'ip.src', 'ip.dst', 'icmp.type'])).filter((r) => r[5] !== '');
      expect(rows).toHaveLength(4);
      for (const [protocols, ethSrc, ethDst, ipSrc, ipDst] of rows) {
        expect(protocols).toBe('eth:ethertype:ip:icmp:data');
        expect([ethSrc, ethDst].sort()).toEqual(['00:16:3e:00:0a:01', '00:16:3e:00:0b:01']);
        expect([ipSrc, ipDst].sort()).toEqual(['10.0.0.1', '10.0.0.3']);
      }
      expect(rows.map((r) => r[5]).sort()).toEqual(['0', '0', '8', '8']);
    }
  });

  it('a bridge port sees traffic between two guests of its host that no NIC capture shows', async () => {
    const vif = join(scratch, 'local.pcap');
    const nic = join(scratch, 'local-nic.pcap');
    const capVif = vnetlab(['capture', 'host-a/dom0/vm-a2', '-w', vif, '--timeout', '5'], { labDir: dir, timeoutMs: 60_000 });
    const capNic = vnetlab(['capture', 'host-a/eth0', '-w', nic, '--timeout', '5'], { labDir: dir, timeoutMs: 60_000 });
    await armed();
    expect((await vnetlabJson<PingJson>(['ping', 'vm-a1', 'vm-a2', '--count', '1'], dir)).received).toBe(1);
    const [v, n] = await Promise.all([capVif, capNic]);
    expect(v.code, v.stderr).toBe(0);
    expect(n.code, n.stderr).toBe(0);
    const rows = await tshark(vif, ['ip.src', 'ip.dst', 'icmp.type']);
    expect(rows.filter((r) => r[2] === '8' && r[0] === '10.0.0.1' && r[1] === '10.0.0.2')).toHaveLength(1);
    expect(rows.filter((r) => r[2] === '0' && r[0] === '10.0.0.2' && r[1] === '10.0.0.1')).toHaveLength(1);
    expect((await tshark(nic, ['ip.dst'])).filter((r) => r[0] === '10.0.0.2')).toEqual([]);
  });

  it('a capture at a NIC during a TCP bulk transfer decodes as TCP in tshark', async () => {
    const file = join(scratch, 'nic-tcp.pcap');
    const cap = vnetlab(['capture', 'host-b/eth0', '-w', file, '--count', '60', '--timeout', '20', '--quiet'], { labDir: dir, timeoutMs: 60_000 });
    await armed();
    const bulk = await vnetlabJson<BulkJson>(['bulk', 'vm-a1', 'vm-b1', '--proto', 'tcp', '--bytes', '300000'], dir);
    expect([bulk.bytesSent, bulk.bytesDelivered]).toEqual([300_000, 300_000]);
    const c = await cap;
    expect(c.code, c.stderr).toBe(0);
    expect(c.stdout).toContain('60 frames captured at host-b/eth0 (nic)');
    const rows = (await tshark(file, ['frame.protocols', 'ip.src', 'ip.dst', 'tcp.srcport', 'tcp.dstport', 'tcp.seq', 'tcp.len', 'tcp.flags.syn', 'tcp.flags.ack'])).filter((r) => r[0]!.includes(':tcp'));
    expect(rows.length).toBeGreaterThan(20);
    const data = rows.filter((r) => Number(r[6]) > 0);
    expect(data.length).toBeGreaterThan(10);
    expect(data.filter((r) => r[0] === 'eth:ethertype:ip:tcp:data').length).toBeGreaterThan(10);
    for (const [protocols, ipSrc, ipDst, sport, dport, seq, len] of data) {
      // (tshark leaves the payload of a segment it takes for a retransmission undissected: no ':data')
      expect(protocols).toMatch(/^eth:ethertype:ip:tcp(:data)?$/);
      expect([ipSrc, ipDst]).toEqual(['10.0.0.1', '10.0.0.3']);
      expect(dport).toBe('5001');
      expect(Number(sport)).toBeGreaterThan(1023);
      expect(seq).toMatch(/^\d+$/);
      expect(Number(len)).toBeLessThanOrEqual(1460);
    }
    // consecutive segments follow each other in sequence space
    const seqs = data.map((r) => Number(r[5]));
    expect(seqs.slice(1).some((s, i) => s === seqs[i]! + Number(data[i]![6]))).toBe(true);
    // and the receiver's acknowledgements come back the other way
    expect(rows.some((r) => r[1] === '10.0.0.3' && r[3] === '5001' && r[8] === '1')).toBe(true);
  });
});
