// The VXLAN overlay end to end: three hosts whose driver domains run Open vSwitch with a
// VTEP each, on one L2 segment; two VNIs with a guest on every host. Real nats-server, real
// service processes, the CLI — and tshark decoding what the capture wrote.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downLeavingNothing, example, metricValue, startLab, vnetlab, vnetlabJson, type CliResult, type LabInfo } from '../src/lab_kit.js';
import { tshark } from '../src/tshark.js';

interface PingJson { sent: number; received: number }
interface BulkJson { bytesSent: number; bytesDelivered: number; flows: Array<{ flow: string; sentFrames: number; deliveredFrames: number; drops: Record<string, number>; inFlight: number }> }
interface CaptureJson { point: string; kind: string; frames: Array<{ direction: string; summary: string }> }
interface TraceJson {
  delivered: boolean;
  frame: string;
  note: string;
  hops: Array<{ service: string; host: string; component: string; step: string; detail: string; tNs: number; flow: string; charges: Array<{ primitive: string; count: number; cycles: number; ns: number }> }>;
}

const delivered = async (metricsUrl: string) => {
  const text = await (await fetch(metricsUrl)).text();
  const v = metricValue(text, 'vnetlab_flow_delivered_frames_total');
  return Number.isNaN(v) ? 0 : v;
};

describe('a VXLAN overlay over three hosts (examples/overlay.yaml)', () => {
  let lab: LabInfo;
  let dir: string;
  let down: () => Promise<CliResult>;
  const scratch = mkdtempSync(join(tmpdir(), 'vnetlab-overlay-'));
  const metrics = (name: string) => lab.services.find((s) => s.name === name)!.metricsUrl;

  beforeAll(async () => {
    ({ lab, dir, down } = await startLab(example('overlay.yaml')));
  });

  afterAll(async () => {
    rmSync(scratch, { recursive: true, force: true });
    await downLeavingNothing(lab, down);
  });

  it('guests of one VNI ping each other across hosts, inside VXLAN', async () => {
    for (const [src, dst] of [['vm-a1', 'vm-b1'], ['vm-a1', 'vm-c1'], ['vm-b2', 'vm-c2']]) {
      const r = await vnetlabJson<PingJson>(['ping', src!, dst!, '--count', '2'], dir);
      expect(r.received, `${src} → ${dst}`).toBe(2);
    }
    // the encapsulation really ran in host-a's dom0, and its tunnel port carried the frames
    const text = await (await fetch(metrics('host-a/dom0'))).text();
    expect(metricValue(text, 'vnetlab_vswitch_port_frames_total', { port: 'vxlan0', direction: 'tx' })).toBeGreaterThan(0);
    expect(metricValue(text, 'vnetlab_vswitch_cache_total', { result: 'miss' })).toBeGreaterThan(0);
    expect(metricValue(text, 'vnetlab_vswitch_flows')).toBe(1);
  });

  it('guests of different VNIs cannot reach each other', async () => {
    const r = await vnetlab(['ping', 'vm-a1', 'vm-b2', '--count', '1', '--json'], { labDir: dir });
    expect(r.code).toBe(1);
    expect((JSON.parse(r.stdout) as PingJson).received).toBe(0);
  });

  it('the same MAC and IP in two VNIs stay apart: VNI 200 reaches vm-c2, never vm-a1', async () => {
    const before = await delivered(metrics('vm-a1'));
    const r = await vnetlabJson<PingJson>(['ping', 'vm-b2', 'vm-c2', '--count', '2'], dir); // 10.0.0.1 in VNI 200
    expect(r.received).toBe(2);
    expect(await delivered(metrics('vm-a1'))).toBe(before);
    const s = await vnetlabJson<PingJson>(['ping', 'vm-b1', 'vm-a1', '--count', '1'], dir); // 10.0.0.1 in VNI 100
    expect(s.received).toBe(1);
    expect(await delivered(metrics('vm-a1'))).toBeGreaterThan(before);
  });

  it('a capture on the underlay opens in tshark and shows VXLAN with the inner ICMP', async () => {
    const file = join(scratch, 'underlay.pcap');
    const cap = vnetlab(['capture', 'underlay', '-w', file, '--count', '4', '--timeout', '30'], { labDir: dir, timeoutMs: 60_000 });
    await new Promise((r) => setTimeout(r, 1500)); // the services arm the capture
    const ping = await vnetlabJson<PingJson>(['ping', 'vm-a1', 'vm-c1', '--count', '2'], dir);
    expect(ping.received).toBe(2);
    const c = await cap;
    expect(c.code, c.stderr).toBe(0);
    expect(c.stdout).toContain('4 frames captured at underlay (link)');
    const rows = await tshark(file, ['eth.type', 'ip.src', 'ip.dst', 'udp.dstport', 'vxlan.vni', 'icmp.type', 'eth.src']);
    expect(rows).toHaveLength(4);
    for (const [ethType, ipSrc, ipDst, udpPort, vni, icmpType, ethSrc] of rows) {
      expect(ethType).toContain('0x0800');
      expect(udpPort).toBe('4789');
      expect(vni).toBe('100');
      // outer then inner addresses, as tshark lists both layers
      expect(ipSrc!.split(',')).toHaveLength(2);
      expect([ipSrc!.split(',')[0], ipDst!.split(',')[0]].sort()).toEqual(['172.16.0.1', '172.16.0.3']);
      expect([ipSrc!.split(',')[1], ipDst!.split(',')[1]].sort()).toEqual(['10.0.0.1', '10.0.0.3']);
      expect(['0', '8']).toContain(icmpType);
      expect(ethSrc!.split(',')[1]).toMatch(/^00:16:3e:00:0[ac]:01$/);
    }
    expect(rows.map((r) => r[5]).sort()).toEqual(['0', '0', '8', '8']);
  });

  it('a capture at a guest shows Ethernet, ARP, IPv4, ICMP and UDP as tshark decodes them', async () => {
    const file = join(scratch, 'guest.pcap');
    const cap = vnetlab(['capture', 'vm-b1', '-w', file, '--timeout', '6'], { labDir: dir, timeoutMs: 60_000 });
    await new Promise((r) => setTimeout(r, 1500));
    // a guest vm-b1 has not spoken to yet: ARP first, then ICMP; a trace over UDP adds a datagram
    await vnetlabJson<PingJson>(['ping', 'vm-c1', 'vm-b1', '--count', '1'], dir);
    await vnetlab(['trace', 'vm-a1', 'vm-b1', '--proto', 'udp', '--json'], { labDir: dir });
    const c = await cap;
    expect(c.code, c.stderr).toBe(0);
    expect(existsSync(file)).toBe(true);
    const rows = await tshark(file, ['frame.protocols', 'eth.dst', 'arp.opcode', 'ip.dst', 'icmp.type', 'udp.dstport']);
    const protocols = rows.map((r) => r[0]!);
    expect(protocols.some((p) => p === 'eth:ethertype:arp')).toBe(true);
    expect(protocols.some((p) => p === 'eth:ethertype:ip:icmp:data')).toBe(true);
    expect(protocols.some((p) => p.startsWith('eth:ethertype:ip:udp'))).toBe(true);
    expect(rows.filter((r) => r[4] === '8').every((r) => r[3] === '10.0.0.2')).toBe(true);
    expect(rows.some((r) => r[5] === '33434')).toBe(true);
  });

  it('a capture at a vswitch port: the tunnel port shows the inner frames, the uplink their VXLAN, as tshark decodes them', async () => {
    const tun = join(scratch, 'vxlan0.pcap');
    const up = join(scratch, 'eth0.pcap');
    const capTun = vnetlab(['capture', 'host-a/dom0/vxlan0', '-w', tun, '--timeout', '6', '--json'], { labDir: dir, timeoutMs: 60_000 });
    const capUp = vnetlab(['capture', 'host-a/dom0/eth0', '-w', up, '--timeout', '6'], { labDir: dir, timeoutMs: 60_000 });
    await new Promise((r) => setTimeout(r, 1500)); // the driver domain arms the captures
    const ping = await vnetlabJson<PingJson>(['ping', 'vm-a1', 'vm-c1', '--count', '2'], dir);
    expect(ping.received).toBe(2);
    const [t, u] = await Promise.all([capTun, capUp]);
    expect(t.code, t.stderr).toBe(0);
    expect(u.code, u.stderr).toBe(0);
    const tj = JSON.parse(t.stdout) as CaptureJson;
    expect([tj.point, tj.kind]).toEqual(['host-a/dom0/vxlan0', 'port']);
    // the tunnel port: the guests' own frames, requests going into the tunnel, replies out of it
    expect(tj.frames.filter((f) => f.summary.includes('echo request')).map((f) => f.direction)).toEqual(['tx', 'tx']);
    expect(tj.frames.filter((f) => f.summary.includes('echo reply')).map((f) => f.direction)).toEqual(['rx', 'rx']);
    const inner = (await tshark(tun, ['frame.protocols', 'eth.src', 'ip.src', 'ip.dst', 'icmp.type', 'udp.dstport'])).filter((r) => r[4] !== '');
    expect(inner).toHaveLength(4);
    for (const [protocols, ethSrc, ipSrc, ipDst, , udpPort] of inner) {
      expect(protocols).toBe('eth:ethertype:ip:icmp:data');
      expect(ethSrc).toMatch(/^00:16:3e:00:0[ac]:01$/);
      expect([ipSrc, ipDst].sort()).toEqual(['10.0.0.1', '10.0.0.3']);
      expect(udpPort).toBe('');
    }
    expect(inner.map((r) => r[4]).sort()).toEqual(['0', '0', '8', '8']);
    // the uplink: the same frames inside VXLAN between the two VTEPs
    const outer = (await tshark(up, ['frame.protocols', 'ip.src', 'ip.dst', 'udp.dstport', 'vxlan.vni', 'icmp.type'])).filter((r) => r[5] !== '');
    expect(outer).toHaveLength(4);
    for (const [protocols, ipSrc, ipDst, udpPort, vni] of outer) {
      expect(protocols).toBe('eth:ethertype:ip:udp:vxlan:eth:ethertype:ip:icmp:data');
      expect(udpPort).toBe('4789');
      expect(vni).toBe('100');
      expect([ipSrc!.split(',')[0], ipDst!.split(',')[0]].sort()).toEqual(['172.16.0.1', '172.16.0.3']);
    }
  });

  it('a capture of a switch port that does not exist is refused with the host\'s ports', async () => {
    const file = join(scratch, 'none.pcap');
    const r = await vnetlab(['capture', 'host-b/dom0/vif9.0', '-w', file, '--timeout', '20'], { labDir: dir, timeoutMs: 60_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('no switch port "host-b/dom0/vif9.0"');
    for (const p of ['host-b/dom0/eth0', 'host-b/dom0/vxlan0', 'host-b/dom0/vif1.0', 'host-b/dom0/vif2.0']) expect(r.stderr).toContain(p);
    expect(existsSync(file)).toBe(false);
    // a guest's name stands for its vif
    const alias = await vnetlab(['capture', 'host-b/dom0/vm-b2', '-w', file, '--timeout', '2', '--json'], { labDir: dir, timeoutMs: 60_000 });
    expect(alias.code, alias.stderr).toBe(0);
    expect((JSON.parse(alias.stdout) as CaptureJson).point).toBe('host-b/dom0/vif2.0');
  });

  it('a stream within one VNI across hosts delivers all its bytes, over UDP and TCP', async () => {
    // 1422-byte datagrams: the largest that fit the tunnel (IP MTU 1450)
    const udp = await vnetlabJson<BulkJson>(['bulk', 'vm-a1', 'vm-b1', '--proto', 'udp', '--bytes', '500000', '--msg-size', '1422'], dir);
    expect([udp.bytesSent, udp.bytesDelivered]).toEqual([500_000, 500_000]);
    expect(udp.flows[0]!.sentFrames).toBe(Math.ceil(500_000 / 1422));
    expect(udp.flows[0]!.deliveredFrames).toBe(udp.flows[0]!.sentFrames);
    expect(udp.flows[0]!.inFlight).toBe(0);
    const tcp = await vnetlabJson<BulkJson>(['bulk', 'vm-b2', 'vm-c2', '--proto', 'tcp', '--bytes', '500000'], dir);
    expect([tcp.bytesSent, tcp.bytesDelivered]).toEqual([500_000, 500_000]);
  });

  it('a stream across VNIs delivers nothing', async () => {
    // vm-a2 (VNI 200) to vm-b1 (VNI 100): nobody in VNI 200 answers for vm-b1's address
    const before = await delivered(metrics('vm-b1'));
    const r = await vnetlab(['bulk', 'vm-a2', 'vm-b1', '--proto', 'udp', '--bytes', '100000', '--msg-size', '1422', '--json'], { labDir: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('10.0.0.2 does not answer');
    expect(await delivered(metrics('vm-b1'))).toBe(before);
    // vm-b2 (VNI 200) to vm-a1's address: it reaches VNI 200's 10.0.0.1 (vm-c2), never vm-a1
    const a1 = await delivered(metrics('vm-a1'));
    const c2 = await delivered(metrics('vm-c2'));
    const s = await vnetlabJson<BulkJson>(['bulk', 'vm-b2', 'vm-a1', '--proto', 'udp', '--bytes', '100000', '--msg-size', '1422'], dir);
    expect(s.flows[0]!.sentFrames).toBe(Math.ceil(100_000 / 1422));
    expect(await delivered(metrics('vm-a1'))).toBe(a1);
    expect(await delivered(metrics('vm-c2'))).toBeGreaterThanOrEqual(c2 + s.flows[0]!.sentFrames);
  });

  it('trace explains the path component by component with each step\'s cost', async () => {
    const t = await vnetlabJson<TraceJson>(['trace', 'vm-a1', 'vm-c1'], dir);
    expect(t.delivered).toBe(true);
    const steps = t.hops.map((h) => `${h.service}:${h.component}/${h.step}`);
    const order = [
      'vm-a1:guest/netfront_tx',
      'host-a/dom0:netback/netback_tx',
      'host-a/dom0:vswitch/encap',
      'host-a/dom0:nic-driver/nic_driver_tx',
      'host-a/eth0:nic/wire_tx',
      'fabric:link/wire',
      'host-c/eth0:nic/dma_rx',
      'host-c/dom0:nic-driver/nic_driver_rx',
      'host-c/dom0:vswitch/decap',
      'host-c/dom0:netback/netback_rx',
      'vm-c1:guest/deliver',
    ];
    const at = order.map((s) => steps.indexOf(s));
    expect(at.every((i) => i >= 0), `steps: ${steps.join(', ')}`).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    // the switch says whether its cache knew the frame and which flow matched
    expect(t.hops.some((h) => h.service === 'host-a/dom0' && (h.step === 'cache_hit' || h.step === 'cache_miss'))).toBe(true);
    expect(t.hops.find((h) => h.service === 'host-a/dom0' && h.flow)?.flow).toContain('actions=normal');
    // and every step that ran on a CPU says what it cost
    const encap = t.hops.find((h) => h.step === 'encap')!;
    expect(encap.charges).toEqual([expect.objectContaining({ primitive: 'vxlan_encap', count: 1 })]);
    expect(t.hops.find((h) => h.step === 'netfront_tx')!.charges.map((c) => c.primitive)).toContain('netfront_tx');
    // the text form names the steps too
    const text = await vnetlab(['trace', 'vm-a1', 'vm-c1'], { labDir: dir });
    expect(text.code).toBe(0);
    for (const s of ['guest/netfront_tx', 'vswitch/encap', 'link/wire', 'vswitch/decap', 'guest/deliver', 'delivered to vm-c1']) expect(text.stdout).toContain(s);
  });

  it('a trace across VNIs shows the probe kept in its own VNI and not delivered', async () => {
    const r = await vnetlab(['trace', 'vm-a1', 'vm-b2', '--json'], { labDir: dir });
    expect(r.code).toBe(1);
    const t = JSON.parse(r.stdout) as TraceJson;
    expect(t.delivered).toBe(false);
    expect(t.hops.some((h) => h.service === 'vm-b2')).toBe(false);
    expect(t.hops.filter((h) => h.step === 'encap').every((h) => h.detail.includes('vni 100'))).toBe(true);
  });

  it('flows add, dump and del round-trip, and a drop flow really drops', async () => {
    const add = await vnetlab(['flows', 'add', 'host-a', 'priority=100,in_port=vm-a1,dl_type=0x0800,nw_dst=10.0.0.3,actions=drop'], { labDir: dir });
    expect(add.code, add.stderr).toBe(0);
    expect(add.stdout).toMatch(/added to host-a: priority=100,in_port=vif\d+\.0,dl_type=0x0800,nw_dst=10\.0\.0\.3,actions=drop/);
    const dump = await vnetlab(['flows', 'dump', 'host-a'], { labDir: dir });
    expect(dump.stdout.split('\n').filter(Boolean)).toHaveLength(2);
    expect(dump.stdout).toContain('priority=0,actions=normal');
    const blocked = await vnetlab(['ping', 'vm-a1', 'vm-c1', '--count', '1', '--json'], { labDir: dir });
    expect((JSON.parse(blocked.stdout) as PingJson).received).toBe(0);
    expect((await vnetlab(['flows', 'dump', 'host-a'], { labDir: dir })).stdout).toMatch(/n_packets=1, n_bytes=\d+, priority=100/);
    // strict: only the flow with exactly this match and priority (not the priority-0 one)
    const none = await vnetlab(['flows', 'del', 'host-a', 'priority=99,in_port=vm-a1', '--strict'], { labDir: dir });
    expect(none.stdout).toContain('deleted 0 flows from host-a');
    const del = await vnetlab(['flows', 'del', 'host-a', 'priority=100,in_port=vm-a1,dl_type=0x0800,nw_dst=10.0.0.3', '--strict'], { labDir: dir });
    expect(del.stdout).toContain('deleted 1 flow from host-a');
    expect((await vnetlab(['flows', 'dump', 'host-a'], { labDir: dir })).stdout.split('\n').filter(Boolean)).toHaveLength(1);
    expect((await vnetlabJson<PingJson>(['ping', 'vm-a1', 'vm-c1', '--count', '1'], dir)).received).toBe(1);
    // a bad flow is refused with its reason
    const bad = await vnetlab(['flows', 'add', 'host-a', 'priority=1,nw_dstt=10.0.0.1,actions=drop'], { labDir: dir });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("unknown field 'nw_dstt'");
  });

  it('graph draws the overlay without a lab', async () => {
    const r = await vnetlab(['graph', example('overlay.yaml')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('underlay (segment, 1 Gb/s, 50 µs): host-a/eth0, host-b/eth0, host-c/eth0');
    const svg = join(scratch, 'overlay.svg');
    const s = await vnetlab(['graph', example('overlay.yaml'), '--format', 'svg', '-o', svg]);
    expect(s.code).toBe(0);
    expect(readFileSync(svg, 'utf8')).toMatch(/^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  });
});
