import { describe, it, expect } from 'vitest';
import { buildUdpFrame, buildTcpFrame, BROADCAST_MAC, TCP_ACK } from '@vnetlab/frames';
import { formatTrace, traceCost, VSwitch, VswitchError, DEFAULT_AGEING_NS, type ProcessResult } from './index.js';

const A = '02:00:00:00:01:01', B = '02:00:00:00:01:02', C = '02:00:00:00:01:03';

function udp(src: string, dst: string, opts: { dstIp?: string; dstPort?: number; len?: number } = {}): Buffer {
  return buildUdpFrame({
    srcMac: src, dstMac: dst, srcIp: '10.0.0.1', dstIp: opts.dstIp ?? '10.0.0.2',
    srcPort: 1000, dstPort: opts.dstPort ?? 2000, payload: Buffer.alloc(opts.len ?? 18, 7),
  });
}

function switchWith(ports: string[], opts: ConstructorParameters<typeof VSwitch>[0] = {}): VSwitch {
  const sw = new VSwitch(opts);
  for (const p of ports) sw.addPort({ name: p, kind: p.startsWith('eth') ? 'uplink' : 'vif' });
  return sw;
}

const outPorts = (r: ProcessResult) => r.outputs.map((o) => o.port);

describe('NORMAL: MAC learning and ageing', () => {
  it('floods an unknown destination to every other port and learns the source on the in-port', () => {
    const sw = switchWith(['vif1', 'vif2', 'eth0']);
    const r = sw.process('vif1', udp(A, B), 1000);
    expect(outPorts(r)).toEqual(['vif2', 'eth0']);
    expect(r.drops).toEqual([]);
    expect(sw.macTable()).toEqual([{ domain: 0, mac: A, port: 'vif1', lastSeenNs: 1000 }]);
    expect(r.trace.map((s) => s.step)).toEqual(['rx', 'cache_miss', 'table_lookup', 'mac_learn', 'mac_lookup', 'flood', 'output', 'output']);
  });

  it('sends a learned destination to exactly its port', () => {
    const sw = switchWith(['vif1', 'vif2', 'eth0']);
    sw.process('vif1', udp(A, B), 0);
    expect(outPorts(sw.process('vif2', udp(B, A), 10))).toEqual(['vif1']);
    expect(outPorts(sw.process('vif1', udp(A, B), 20))).toEqual(['vif2']);
  });

  it('forgets a MAC not seen for the ageing time and floods to it again', () => {
    const sw = switchWith(['vif1', 'vif2', 'eth0'], { ageingNs: 1000 });
    sw.process('vif2', udp(B, A), 0);
    expect(outPorts(sw.process('vif1', udp(A, B), 999))).toEqual(['vif2']);
    expect(outPorts(sw.process('eth0', udp(C, B), 1000))).toEqual(['vif1', 'vif2']);
    expect(sw.macTable().some((e) => e.mac === B)).toBe(false);
    expect(sw.stats().mac.aged).toBeGreaterThanOrEqual(1);
  });

  it('a source seen again on the fast path stays learned', () => {
    const sw = switchWith(['vif1', 'vif2'], { ageingNs: 1000 });
    sw.process('vif2', udp(B, A), 0);
    sw.process('vif1', udp(A, B), 100);
    expect(sw.process('vif2', udp(B, A), 200).fastPath).toBe(false); // A is known now: a new decision
    expect(sw.process('vif2', udp(B, A), 800).fastPath).toBe(true);  // refreshes B at 800
    const r = sw.process('vif1', udp(A, B), 1500);
    expect(outPorts(r)).toEqual(['vif2']);
  });

  it('age(tNs) removes expired entries and macTable(tNs) hides them', () => {
    const sw = switchWith(['vif1', 'vif2'], { ageingNs: 100 });
    sw.process('vif1', udp(A, B), 0);
    sw.process('vif2', udp(B, A), 50);
    expect(sw.macTable(120).map((e) => e.mac)).toEqual([B]);
    expect(sw.age(120)).toBe(1);
    expect(sw.macTable().map((e) => e.mac)).toEqual([B]);
  });

  it('moves a MAC to the port it is now seen on', () => {
    const sw = switchWith(['vif1', 'vif2', 'eth0']);
    sw.process('vif1', udp(A, BROADCAST_MAC), 0);
    sw.process('eth0', udp(A, BROADCAST_MAC), 10);
    expect(sw.macTable()).toEqual([{ domain: 0, mac: A, port: 'eth0', lastSeenNs: 10 }]);
    expect(outPorts(sw.process('vif2', udp(B, A), 20))).toEqual(['eth0']);
    expect(sw.stats().mac.moved).toBe(1);
  });

  it('drops multicast sources, and a destination behind the in-port, with their reasons', () => {
    const sw = switchWith(['vif1', 'vif2']);
    expect(sw.process('vif1', udp('01:00:5e:00:00:01', B), 0).drops.map((d) => d.reason)).toEqual(['bad_source_mac']);
    sw.process('vif1', udp(B, BROADCAST_MAC), 0);
    expect(sw.process('vif1', udp(A, B), 0).drops.map((d) => d.reason)).toEqual(['same_port']);
    expect(sw.stats().ports.vif1!.drops).toEqual({ bad_source_mac: 1, same_port: 1 });
  });

  it('a frame from an unknown port or shorter than Ethernet is dropped with a reason, not thrown', () => {
    const sw = switchWith(['vif1']);
    expect(sw.process('nope', udp(A, B), 0).drops[0]!.reason).toBe('unknown_port');
    expect(sw.process('vif1', Buffer.alloc(9), 0).drops[0]!.reason).toBe('malformed');
    expect(sw.process('vif1', udp(A, BROADCAST_MAC), 0).drops[0]!.reason).toBe('no_destination');
  });
});

describe('flow table: priorities and actions', () => {
  it('the highest-priority matching flow decides, and deleting it gives the lower one back', () => {
    const sw = switchWith(['vif1', 'vif2', 'eth0', 'mon0']);
    sw.addFlow('priority=100,in_port=vif1,ip,nw_dst=10.0.0.0/24,actions=output:eth0');
    sw.addFlow('priority=200,in_port=vif1,udp,tp_dst=53,actions=output:vif2');
    expect(outPorts(sw.process('vif1', udp(A, B), 0))).toEqual(['eth0']);
    expect(outPorts(sw.process('vif1', udp(A, B, { dstPort: 53 }), 0))).toEqual(['vif2']);
    expect(outPorts(sw.process('vif1', udp(A, B, { dstIp: '10.0.1.2' }), 0))).toEqual(['vif2', 'eth0', 'mon0']); // priority 0 normal: flood
    expect(sw.delFlows('priority=200,in_port=vif1,udp,tp_dst=53', { strict: true })).toBe(1);
    expect(outPorts(sw.process('vif1', udp(A, B, { dstPort: 53 }), 0))).toEqual(['eth0']);
  });

  it('drop drops with flow_drop and counts the frame on its flow', () => {
    const sw = switchWith(['vif1', 'vif2']);
    sw.addFlow('priority=10,dl_src=02:00:00:00:01:01,actions=drop');
    const f = udp(A, B);
    const r = sw.process('vif1', f, 0);
    expect(r.outputs).toEqual([]);
    expect(r.drops).toMatchObject([{ reason: 'flow_drop', port: 'vif1' }]);
    expect(sw.dumpFlows()[0]).toBe(` n_packets=1, n_bytes=${f.length}, priority=10,dl_src=02:00:00:00:01:01,actions=drop`);
  });

  it('flood sends to every port of the domain but the in-port, without learning', () => {
    const sw = switchWith(['vif1', 'vif2', 'eth0']);
    sw.addFlow('priority=10,actions=flood');
    expect(outPorts(sw.process('vif2', udp(A, B), 0))).toEqual(['vif1', 'eth0']);
    expect(sw.macTable()).toEqual([]);
  });

  it('mirror copies the frame to a port and marks the copy, then the next action forwards it', () => {
    const sw = switchWith(['vif1', 'vif2', 'mon0']);
    sw.addFlow('priority=10,in_port=vif1,actions=mirror:mon0,output:vif2');
    const f = udp(A, B);
    const r = sw.process('vif1', f, 0);
    expect(r.outputs).toEqual([{ port: 'mon0', frame: f, mirror: true }, { port: 'vif2', frame: f }]);
    expect(sw.stats().ports.mon0!.txFrames).toBe(1);
  });

  it('matches on tp_src, tp_dst and nw_proto of a TCP segment', () => {
    const sw = switchWith(['vif1', 'vif2', 'eth0']);
    sw.addFlow('priority=10,tcp,tp_src=5001,tp_dst=80,actions=output:eth0');
    const seg = buildTcpFrame({ srcMac: A, dstMac: B, srcIp: '10.0.0.1', dstIp: '10.0.0.2', segment: { srcPort: 5001, dstPort: 80, seq: 1, ack: 1, flags: TCP_ACK, window: 100, payload: Buffer.alloc(0) } });
    expect(outPorts(sw.process('vif1', seg, 0))).toEqual(['eth0']);
    expect(outPorts(sw.process('vif1', udp(A, B, { dstPort: 80 }), 0))).toEqual(['vif2', 'eth0']); // UDP: normal
  });

  it('output to the in-port is refused as same_port, as OpenFlow does', () => {
    const sw = switchWith(['vif1', 'vif2']);
    sw.addFlow('priority=10,actions=output:vif1');
    expect(sw.process('vif1', udp(A, B), 0).drops.map((d) => d.reason)).toEqual(['same_port']);
  });

  it('without the default NORMAL flow a table miss drops with no_match', () => {
    const sw = switchWith(['vif1', 'vif2'], { defaultFlow: false });
    expect(sw.flows()).toEqual([]);
    expect(sw.process('vif1', udp(A, B), 0).drops).toMatchObject([{ reason: 'no_match' }]);
  });

  it('add-flow with the same match and priority replaces the flow; del-flows deletes loosely by default', () => {
    const sw = switchWith(['vif1', 'vif2', 'eth0']);
    sw.addFlow('priority=10,in_port=vif1,actions=output:vif2');
    sw.addFlow('priority=10,in_port=vif1,actions=output:eth0');
    sw.addFlow('priority=20,in_port=vif1,ip,actions=drop');
    expect(sw.flows().map((f) => f.flow)).toEqual([
      'priority=20,in_port=vif1,dl_type=0x0800,actions=drop',
      'priority=10,in_port=vif1,actions=output:eth0',
      'priority=0,actions=normal',
    ]);
    expect(sw.delFlows('in_port=vif1')).toBe(2);
    expect(sw.delFlows()).toBe(1);
    expect(sw.flows()).toEqual([]);
  });

  it('refuses a flow naming a port that is not on the switch', () => {
    const sw = switchWith(['vif1']);
    expect(() => sw.addFlow('in_port=vif1,actions=output:vif9')).toThrow(VswitchError);
    expect(() => sw.addFlow('in_port=vif9,actions=drop')).toThrow(/unknown_port/);
  });
});

describe('fast-path cache', () => {
  it('the first frame of a flow takes the slow path and the next one hits the cache, for less lookup work', () => {
    const sw = switchWith(['vif1', 'vif2']);
    sw.process('vif2', udp(B, A), 0);
    const miss = sw.process('vif1', udp(A, B), 1);
    const hit = sw.process('vif1', udp(A, B), 2);
    expect(miss.fastPath).toBe(false);
    expect(hit.fastPath).toBe(true);
    expect(outPorts(hit)).toEqual(outPorts(miss));
    expect(hit.trace.map((s) => s.step)).toEqual(['rx', 'cache_hit', 'output']);
    expect(traceCost(hit.trace).flow_lookup!).toBeLessThan(traceCost(miss.trace).flow_lookup!);
    expect(sw.stats().cache).toMatchObject({ hits: 1, misses: 2 });
    expect(sw.flows()[0]!.nPackets).toBe(3);
  });

  it('a flow change empties the cache and the next frame follows the new flow', () => {
    const sw = switchWith(['vif1', 'vif2', 'eth0']);
    sw.process('vif2', udp(B, A), 0);
    sw.process('vif1', udp(A, B), 1);
    expect(sw.process('vif1', udp(A, B), 2).fastPath).toBe(true);
    sw.addFlow('priority=50,in_port=vif1,actions=output:eth0');
    expect(sw.stats().cache.entries).toBe(0);
    const r = sw.process('vif1', udp(A, B), 3);
    expect(r.fastPath).toBe(false);
    expect(outPorts(r)).toEqual(['eth0']);
    sw.delFlows('in_port=vif1');
    expect(outPorts(sw.process('vif1', udp(A, B), 4))).toEqual(['vif2']);
  });

  it('a newly learned MAC invalidates decisions that flooded to it', () => {
    const sw = switchWith(['vif1', 'vif2', 'eth0']);
    expect(outPorts(sw.process('vif1', udp(A, B), 0))).toEqual(['vif2', 'eth0']);
    sw.process('vif2', udp(B, A), 1); // B learned
    const r = sw.process('vif1', udp(A, B), 2);
    expect(r.fastPath).toBe(false);
    expect(outPorts(r)).toEqual(['vif2']);
  });

  it('a cached decision whose destination has aged out is not used', () => {
    const sw = switchWith(['vif1', 'vif2', 'eth0'], { ageingNs: 1000 });
    sw.process('vif2', udp(B, A), 0);
    sw.process('vif1', udp(A, B), 500);
    const r = sw.process('vif1', udp(A, B), 1200); // B last seen at 0: expired at 1000
    expect(r.fastPath).toBe(false);
    expect(outPorts(r)).toEqual(['vif2', 'eth0']);
  });

  it('evicts the oldest entry when full', () => {
    const sw = switchWith(['vif1', 'vif2'], { cacheEntries: 2 });
    sw.process('vif2', udp(B, A), 0);
    for (const port of [1, 2, 3]) sw.process('vif1', udp(A, B, { dstPort: port }), 1);
    expect(sw.stats().cache).toMatchObject({ entries: 2, evictions: 1 });
  });
});

describe('counters, trace and configuration', () => {
  it('every frame is forwarded or dropped, and ports count what they receive and send', () => {
    const sw = switchWith(['vif1', 'vif2', 'eth0']);
    sw.process('vif1', udp(A, B), 0);
    sw.process('vif2', udp(B, A), 0);
    sw.process('vif1', Buffer.alloc(3), 0);
    const s = sw.stats();
    expect(s.frames).toBe(s.forwarded + s.dropped);
    expect(s.dropped).toBe(1);
    expect(s.ports.vif1).toMatchObject({ rxFrames: 2, txFrames: 1, drops: { malformed: 1 } });
    expect(s.ports.eth0!.txFrames).toBe(1);
  });

  it('formats a trace one step a line with the primitive each step costs', () => {
    const sw = switchWith(['vif1', 'vif2']);
    const lines = formatTrace(sw.process('vif1', udp(A, B), 0).trace);
    expect(lines[1]).toMatch(/cache_miss .*slow path.*\[flow_lookup x1\]/);
    expect(lines[2]).toMatch(/table_lookup .*matched priority=0,actions=normal/);
  });

  it('refuses bad ports and options with a reason', () => {
    const sw = switchWith(['vif1']);
    expect(() => sw.addPort({ name: 'vif1', kind: 'vif' })).toThrow(/port_exists/);
    expect(() => sw.addPort({ name: 'x', kind: 'bogus' as never })).toThrow(/bad_option/);
    expect(() => sw.addPort({ name: 'v', kind: 'vif', vni: 0 })).toThrow(/bad_vni/);
    expect(() => sw.addPort({ name: 'v', kind: 'vif', localIp: '1.1.1.1' })).toThrow(/vxlan ports only/);
    expect(() => sw.addPort({ name: 't', kind: 'vxlan' })).toThrow(/needs localIp and localMac/);
    expect(() => sw.removePort('gone')).toThrow(/unknown_port/);
    expect(() => new VSwitch({ ageingNs: 0 })).toThrow(/bad_option/);
    expect(new VSwitch().ageingNs).toBe(DEFAULT_AGEING_NS);
  });

  it('removing a port forgets its MACs and its flows then drop with unknown_port', () => {
    const sw = switchWith(['vif1', 'vif2', 'eth0']);
    sw.addFlow('priority=10,in_port=eth0,actions=output:vif2');
    sw.process('vif2', udp(B, A), 0);
    sw.removePort('vif2');
    expect(sw.macTable()).toEqual([]);
    expect(sw.process('eth0', udp(C, B), 1).drops.map((d) => d.reason)).toEqual(['unknown_port']);
  });
});
