import { describe, it, expect } from 'vitest';
import { buildArpFrame, buildUdpFrame, decapVxlan, encapVxlan, BROADCAST_MAC } from '@vnetlab/frames';
import { traceCost, VSwitch, type ProcessResult } from './index.js';

const LOCAL_VTEP = '172.16.0.1', LOCAL_MAC = '02:aa:00:00:00:01', GW = '02:ee:00:00:00:01';
const VTEP_B = '172.16.0.2', VTEP_C = '172.16.0.3', VTEP_D = '172.16.0.4';
const VM1 = '02:00:00:00:05:01', VM_REMOTE = '02:00:00:00:05:02', SAME_MAC = '02:00:00:00:99:99';

/** A host's switch: vif1 and vif1b in VNI 5000, vif2 in VNI 6000, an uplink, one tunnel port. */
function host(underlayMtu?: number): VSwitch {
  const sw = new VSwitch();
  sw.addPort({ name: 'vif1', kind: 'vif', vni: 5000 });
  sw.addPort({ name: 'vif1b', kind: 'vif', vni: 5000 });
  sw.addPort({ name: 'vif2', kind: 'vif', vni: 6000 });
  sw.addPort({ name: 'eth0', kind: 'uplink' });
  sw.addPort({ name: 'vxlan0', kind: 'vxlan', localIp: LOCAL_VTEP, localMac: LOCAL_MAC, nextHopMac: GW, underlayMtu });
  sw.addVtep(5000, VTEP_B);
  sw.addVtep(5000, VTEP_C, { mac: '02:ee:00:00:00:03' });
  sw.addVtep(6000, VTEP_D);
  return sw;
}

function udp(src: string, dst: string, payloadLen = 18, srcIp = '192.168.0.1', dstIp = '192.168.0.2'): Buffer {
  return buildUdpFrame({ srcMac: src, dstMac: dst, srcIp, dstIp, srcPort: 1000, dstPort: 2000, payload: Buffer.alloc(payloadLen, 1) });
}

/** What a remote VTEP would put on the underlay towards us. */
function fromRemote(inner: Buffer, vni: number, remoteIp: string, dstIp = LOCAL_VTEP): Buffer {
  return encapVxlan({ inner, vni, outerSrcMac: '02:bb:00:00:00:02', outerDstMac: LOCAL_MAC, srcIp: remoteIp, dstIp });
}

const tunnelled = (r: ProcessResult) => r.outputs.filter((o) => o.port === 'vxlan0');

describe('VXLAN encapsulation and decapsulation', () => {
  it('a frame from a remote VTEP is decapsulated into its VNI, and the reply goes back encapsulated to that VTEP only', () => {
    const sw = host();
    const inner = udp(VM_REMOTE, VM1);
    const rx = sw.process('vxlan0', fromRemote(inner, 5000, VTEP_B), 0);
    expect(rx.outputs).toEqual([{ port: 'vif1', frame: inner }, { port: 'vif1b', frame: inner }]); // unknown unicast, VNI 5000 only, not back to VTEPs
    expect(sw.macTable()).toContainEqual({ domain: 5000, mac: VM_REMOTE, port: 'vxlan0', remoteIp: VTEP_B, lastSeenNs: 0 });

    const reply = udp(VM1, VM_REMOTE);
    const tx = sw.process('vif1', reply, 10);
    expect(tx.outputs).toHaveLength(1);
    const out = tx.outputs[0]!;
    expect(out).toMatchObject({ port: 'vxlan0', vni: 5000, remoteIp: VTEP_B });
    // the outer frame, field by field
    expect(out.frame.length).toBe(reply.length + 50);
    expect(out.frame.subarray(0, 6).toString('hex')).toBe('02ee00000001');       // next hop
    expect(out.frame.subarray(6, 12).toString('hex')).toBe('02aa00000001');      // local VTEP's MAC
    expect(out.frame.readUInt32BE(26)).toBe(0xac100001);                          // 172.16.0.1
    expect(out.frame.readUInt32BE(30)).toBe(0xac100002);                          // 172.16.0.2
    expect(out.frame.readUInt16BE(36)).toBe(4789);
    expect(out.frame.readUIntBE(46, 3)).toBe(5000);
    const back = decapVxlan(out.frame);
    expect(back.inner).toEqual(reply);
    expect(traceCost(tx.trace).vxlan_encap).toBe(1);
    expect(traceCost(rx.trace).vxlan_encap).toBe(1); // the decap
  });

  it('VXLAN arriving on the uplink for the local VTEP is handed to the tunnel port', () => {
    const sw = host();
    const inner = udp(VM_REMOTE, BROADCAST_MAC);
    const r = sw.process('eth0', fromRemote(inner, 6000, VTEP_D), 0);
    expect(r.outputs).toEqual([{ port: 'vif2', frame: inner }]);
    expect(r.trace.map((s) => s.step)).toContain('tunnel_rx');
    expect(sw.stats().ports.vxlan0!.rxFrames).toBe(1);
  });

  it('refuses VXLAN from an unconfigured VTEP, for an unserved VNI, to another address, or without the I flag', () => {
    const sw = host();
    const inner = udp(VM_REMOTE, VM1);
    const reason = (f: Buffer) => sw.process('vxlan0', f, 0).drops.map((d) => d.reason);
    expect(reason(fromRemote(inner, 5000, VTEP_D))).toEqual(['unknown_vtep']);   // D serves 6000 only
    expect(reason(fromRemote(inner, 7000, VTEP_B))).toEqual(['unknown_vni']);
    expect(reason(fromRemote(inner, 5000, VTEP_B, '172.16.0.9'))).toEqual(['not_local_vtep']);
    const noI = fromRemote(inner, 5000, VTEP_B); noI[42] = 0;
    expect(reason(noI)).toEqual(['bad_vxlan_flags']);
    expect(reason(inner)).toEqual(['not_vxlan']);
    expect(sw.macTable()).toEqual([]);
    expect(sw.stats().ports.vxlan0!.drops).toEqual({ unknown_vtep: 1, unknown_vni: 1, not_local_vtep: 1, bad_vxlan_flags: 1, not_vxlan: 1 });
  });
});

describe('BUM traffic: head-end replication', () => {
  it('a broadcast in a VNI goes to each remote VTEP of that VNI, once, and to the local ports of that VNI only', () => {
    const sw = host();
    const arp = buildArpFrame({ op: 1, senderMac: VM1, senderIp: '192.168.0.1', targetMac: '00:00:00:00:00:00', targetIp: '192.168.0.2' });
    const r = sw.process('vif1', arp, 0);
    expect(r.outputs.filter((o) => o.port !== 'vxlan0').map((o) => o.port)).toEqual(['vif1b']);
    const tun = tunnelled(r);
    expect(tun.map((o) => o.remoteIp).sort()).toEqual([VTEP_B, VTEP_C]);
    for (const o of tun) {
      const p = decapVxlan(o.frame);
      expect(p.vni).toBe(5000);
      expect(p.outer.dstIp).toBe(o.remoteIp);
      expect(p.inner).toEqual(arp);
    }
    expect(decapVxlan(tun.find((o) => o.remoteIp === VTEP_C)!.frame).outer.dstMac).toBe('02:ee:00:00:00:03');
    expect(traceCost(r.trace).vxlan_encap).toBe(2);
    expect(r.trace.find((s) => s.step === 'flood')!.detail).toMatch(/head-end replication to VTEPs \[172\.16\.0\.2, 172\.16\.0\.3\]/);
  });

  it('unknown unicast and multicast are replicated the same way; a learned destination is not', () => {
    const sw = host();
    expect(tunnelled(sw.process('vif2', udp(SAME_MAC, VM_REMOTE), 0)).map((o) => o.remoteIp)).toEqual([VTEP_D]);
    expect(tunnelled(sw.process('vif2', udp(SAME_MAC, '01:00:5e:00:00:fb'), 0)).map((o) => o.remoteIp)).toEqual([VTEP_D]);
    sw.process('vxlan0', fromRemote(udp(VM_REMOTE, SAME_MAC), 5000, VTEP_C), 1);
    expect(tunnelled(sw.process('vif1', udp(VM1, VM_REMOTE), 2)).map((o) => o.remoteIp)).toEqual([VTEP_C]);
  });

  it('a broadcast from the overlay is not flooded back to other VTEPs (split horizon)', () => {
    const sw = host();
    const r = sw.process('vxlan0', fromRemote(udp(VM_REMOTE, BROADCAST_MAC), 5000, VTEP_B), 0);
    expect(r.outputs.map((o) => o.port)).toEqual(['vif1', 'vif1b']);
  });

  it('removing a VTEP stops replication to it and forgets the MACs learned behind it', () => {
    const sw = host();
    sw.process('vxlan0', fromRemote(udp(VM_REMOTE, VM1), 5000, VTEP_B), 0);
    expect(sw.removeVtep(5000, VTEP_B)).toBe(true);
    expect(sw.macTable().filter((e) => e.remoteIp === VTEP_B)).toEqual([]);
    expect(tunnelled(sw.process('vif1', udp(VM1, VM_REMOTE), 1)).map((o) => o.remoteIp)).toEqual([VTEP_C]);
    expect(sw.process('vxlan0', fromRemote(udp(VM_REMOTE, VM1), 5000, VTEP_B), 2).drops[0]!.reason).toBe('unknown_vtep');
  });
});

describe('VNI isolation', () => {
  it('the same MAC and IP in two VNIs are two stations that never see each other\'s traffic', () => {
    const sw = host();
    // A guest with SAME_MAC/192.168.0.9 sits in each VNI: vif1 (5000) and vif2 (6000).
    sw.process('vif1', udp(SAME_MAC, BROADCAST_MAC, 18, '192.168.0.9'), 0);
    sw.process('vif2', udp(SAME_MAC, BROADCAST_MAC, 18, '192.168.0.9'), 0);
    expect(sw.macTable().filter((e) => e.mac === SAME_MAC).map((e) => [e.domain, e.port]).sort()).toEqual([[5000, 'vif1'], [6000, 'vif2']]);
    expect(sw.stats().mac.moved).toBe(0);

    // A remote station in VNI 5000 sends to SAME_MAC/192.168.0.9: only VNI 5000's guest gets it.
    const to5000 = sw.process('vxlan0', fromRemote(udp(VM_REMOTE, SAME_MAC, 18, '192.168.0.1', '192.168.0.9'), 5000, VTEP_B), 1);
    expect(to5000.outputs.map((o) => o.port)).toEqual(['vif1']);
    // The same inner frame in VNI 6000 goes to VNI 6000's guest only.
    const to6000 = sw.process('vxlan0', fromRemote(udp(VM_REMOTE, SAME_MAC, 18, '192.168.0.1', '192.168.0.9'), 6000, VTEP_D), 2);
    expect(to6000.outputs.map((o) => o.port)).toEqual(['vif2']);
    // VM_REMOTE was learned in each VNI behind its own VTEP.
    expect(sw.macTable().filter((e) => e.mac === VM_REMOTE).map((e) => [e.domain, e.remoteIp]).sort()).toEqual([[5000, VTEP_B], [6000, VTEP_D]]);
    // Replies leave in their own VNI to their own VTEP.
    const r5 = sw.process('vif1', udp(SAME_MAC, VM_REMOTE), 3).outputs;
    const r6 = sw.process('vif2', udp(SAME_MAC, VM_REMOTE), 3).outputs;
    expect(r5.map((o) => [o.vni, o.remoteIp])).toEqual([[5000, VTEP_B]]);
    expect(r6.map((o) => [o.vni, o.remoteIp])).toEqual([[6000, VTEP_D]]);
  });

  it('tun_id matches the VNI and set_tunnel moves a frame into another VNI for a tunnel port', () => {
    const sw = host();
    sw.addFlow('priority=10,tun_id=6000,actions=drop');
    expect(sw.process('vxlan0', fromRemote(udp(VM_REMOTE, BROADCAST_MAC), 6000, VTEP_D), 0).drops[0]!.reason).toBe('flow_drop');
    sw.addFlow('priority=10,in_port=eth0,actions=set_tunnel:5000,output:vxlan0');
    const r = sw.process('eth0', udp('02:00:00:00:07:07', BROADCAST_MAC), 0);
    expect(r.outputs.map((o) => [o.vni, o.remoteIp])).toEqual([[5000, VTEP_B], [5000, VTEP_C]]);
    sw.addFlow('priority=10,in_port=vif2,actions=output:vxlan0');
    sw.addFlow('priority=10,in_port=eth0,actions=output:vxlan0');
    expect(sw.process('eth0', udp(VM1, BROADCAST_MAC), 0).drops[0]!.reason).toBe('no_vni');
  });
});

describe('underlay MTU', () => {
  it('drops a frame whose encapsulation exceeds the underlay MTU, counting the 50 bytes of overhead', () => {
    const sw = host(1500);
    // inner IP packet = 20 + 8 + payload; with 50 bytes of overhead it must fit 1500.
    const fits = udp(VM1, VM_REMOTE, 1450 - 28);
    const tooBig = udp(VM1, VM_REMOTE, 1451 - 28);
    const ok = sw.process('vif1', fits, 0);
    expect(tunnelled(ok)).toHaveLength(2);
    expect(ok.outputs.every((o) => o.port !== 'vxlan0' || o.frame.length - 14 === 1500)).toBe(true);
    const big = sw.process('vif1', tooBig, 1);
    expect(tunnelled(big)).toEqual([]);
    expect(big.outputs.map((o) => o.port)).toEqual(['vif1b']); // the local copy is not limited by the underlay
    expect(big.drops.map((d) => d.reason)).toEqual(['underlay_mtu', 'underlay_mtu']);
    expect(big.drops[0]!.detail).toMatch(/1451 \+ 50 = 1501 bytes exceeds underlay MTU 1500/);
    expect(sw.stats().ports.vxlan0!.drops.underlay_mtu).toBe(2);
    expect(sw.process('vif1', tooBig, 2).drops.map((d) => d.reason)).toEqual(['underlay_mtu', 'underlay_mtu']); // same on the fast path
  });
});

describe('VTEP configuration', () => {
  it('refuses a VTEP without a tunnel port, with a bad VNI or address, or on its own address', () => {
    const plain = new VSwitch();
    expect(() => plain.addVtep(5000, VTEP_B)).toThrow(/bad_vtep: name the tunnel port/);
    const sw = host();
    expect(() => sw.addVtep(0, VTEP_B)).toThrow(/bad_vni/);
    expect(() => sw.addVtep(1 << 24, VTEP_B)).toThrow(/bad_vni/);
    expect(() => sw.addVtep(5000, '1.2.3')).toThrow(/bad_vtep/);
    expect(() => sw.addVtep(5000, LOCAL_VTEP)).toThrow(/own VTEP address/);
    expect(() => sw.addVtep(5000, VTEP_D, { port: 'vif1' })).toThrow(/not a vxlan port/);
    expect(() => sw.addPort({ name: 'vx', kind: 'vxlan', localIp: '1.1.1.1', localMac: LOCAL_MAC, vni: 5 })).toThrow(/carries every VNI/);
    expect(sw.vteps(5000).map((v) => v.ip)).toEqual([VTEP_B, VTEP_C]);
  });
});
