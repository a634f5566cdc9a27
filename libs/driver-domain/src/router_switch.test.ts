import { describe, expect, it } from 'vitest';
import { buildArpFrame, buildUdpFrame, bytesToMac, decodeArp, internetChecksum } from '@vnetlab/frames';
import { RouterSwitch, type Route } from './router_switch.js';

// A router dom0 between NIC eth0 (the generator's side), NIC eth1 (the sink's) and one guest's vif.
const GEN = { ip: '10.0.0.1', mac: '00:16:3e:00:00:01' };
const SINK = { ip: '10.0.0.2', mac: '00:16:3e:00:00:02' };
const VM = { ip: '10.0.0.11', mac: '00:16:3e:00:00:11' };
const NIC_MAC: Record<string, string> = { eth0: '02:00:00:00:00:a0', eth1: '02:00:00:00:00:a1' };

function router(routes: Route[]) {
  const r = new RouterSwitch({
    routes,
    neighbours: new Map([GEN, SINK, VM].map((g) => [g.ip, g.mac])),
    portMac: (k) => NIC_MAC[k] ?? RouterSwitch.vifMac,
  });
  r.addPort({ name: 'eth0', kind: 'uplink' });
  r.addPort({ name: 'eth1', kind: 'uplink' });
  r.addPort({ name: 'vif1.0', kind: 'vif', mac: VM.mac, ip: VM.ip });
  return r;
}

const HOST_ROUTES: Route[] = [{ dst: GEN.ip, out: 'eth0' }, { dst: SINK.ip, out: 'eth1' }, { dst: VM.ip, out: VM.ip }];
const udp = (dstMac: string, dstIp: string, ttl?: number) => {
  const f = buildUdpFrame({ srcMac: GEN.mac, dstMac, srcIp: GEN.ip, dstIp, srcPort: 1000, dstPort: 5001, payload: Buffer.alloc(18, 7) });
  if (ttl !== undefined) {
    f[22] = ttl;
    f.writeUInt16BE(0, 24);
    f.writeUInt16BE(internetChecksum(f, 14, 34), 24);
  }
  return f;
};

describe('the routing driver domain', () => {
  it('answers ARP for an address routed through another port with its own MAC on the asking port (proxy ARP)', () => {
    const r = router(HOST_ROUTES);
    const who = buildArpFrame({ op: 1, senderMac: GEN.mac, senderIp: GEN.ip, targetMac: '00:00:00:00:00:00', targetIp: SINK.ip });
    const d = r.forward('eth0', who);
    expect(d.outputs).toHaveLength(1);
    expect(d.outputs[0]!.port).toBe('eth0');
    const reply = decodeArp(d.outputs[0]!.bytes.subarray(14));
    expect(reply).toMatchObject({ op: 2, senderIp: SINK.ip, senderMac: NIC_MAC.eth0, targetIp: GEN.ip, targetMac: GEN.mac });
    expect(bytesToMac(d.outputs[0]!.bytes, 0)).toBe(GEN.mac);
    // an address on the asking port's own side is not the router's to answer for
    expect(r.forward('eth0', buildArpFrame({ op: 1, senderMac: GEN.mac, senderIp: GEN.ip, targetMac: '00:00:00:00:00:00', targetIp: GEN.ip })).drops).toEqual(['arp_not_proxied']);
  });

  it('routes by destination: next hop MAC, its own MAC as source, TTL − 1, a header checksum still right, one FIB lookup', () => {
    const r = router(HOST_ROUTES);
    const f = udp(NIC_MAC.eth0!, SINK.ip);
    const d = r.forward('eth0', f);
    expect(d.outputs.map((o) => o.port)).toEqual(['eth1']);
    const out = d.outputs[0]!.bytes;
    expect(bytesToMac(out, 0)).toBe(SINK.mac);
    expect(bytesToMac(out, 6)).toBe(NIC_MAC.eth1);
    expect(out[22]).toBe(f[22]! - 1);
    expect(internetChecksum(out, 14, 34)).toBe(0);
    expect(out.subarray(34)).toEqual(f.subarray(34)); // the payload untouched
    expect(f.readUInt16BE(24)).not.toBe(out.readUInt16BE(24)); // the original frame is left as it was
    expect(d.charges).toEqual([['ip_forward', 1]]);
    // to a guest: out of its vif
    expect(r.forward('eth0', udp(NIC_MAC.eth0!, VM.ip)).outputs.map((o) => o.port)).toEqual(['vif1.0']);
  });

  it('keeps the checksum right whatever the TTL and header (the carry of the one’s complement update)', () => {
    const r = router(HOST_ROUTES);
    for (let ttl = 2; ttl <= 255; ttl += 7) {
      const out = r.forward('eth0', udp(NIC_MAC.eth0!, SINK.ip, ttl)).outputs[0]!.bytes;
      expect(internetChecksum(out, 14, 34), `ttl ${ttl}`).toBe(0);
    }
  });

  it('routes by incoming port too: from the generator through the guest, from the guest on to the sink', () => {
    const r = router([{ dst: SINK.ip, out: VM.ip, via: VM.ip, iif: 'eth0' }, { dst: SINK.ip, out: 'eth1', iif: VM.ip }, { dst: GEN.ip, out: 'eth0' }]);
    const first = r.forward('eth0', udp(NIC_MAC.eth0!, SINK.ip)).outputs[0]!;
    expect(first.port).toBe('vif1.0');
    expect(bytesToMac(first.bytes, 0)).toBe(VM.mac);
    // the guest forwards it back to the router (its gateway: the vif's MAC)
    const back = Buffer.from(first.bytes);
    Buffer.from(RouterSwitch.vifMac.split(':').map((x) => parseInt(x, 16))).copy(back, 0);
    const second = r.forward('vif1.0', back).outputs[0]!;
    expect(second.port).toBe('eth1');
    expect(bytesToMac(second.bytes, 0)).toBe(SINK.mac);
    expect(second.bytes[22]).toBe(first.bytes[22]! - 1);
  });

  it('drops what it cannot route, each with its reason', () => {
    const r = router(HOST_ROUTES);
    expect(r.forward('eth0', udp(NIC_MAC.eth0!, '10.9.9.9')).drops).toEqual(['no_route']);
    expect(r.forward('eth0', udp(NIC_MAC.eth0!, SINK.ip, 1)).drops).toEqual(['ttl_exceeded']);
    expect(r.forward('eth0', udp(SINK.mac, SINK.ip)).drops).toEqual(['not_for_router']);
    expect(r.forward('eth0', Buffer.alloc(10)).drops).toEqual(['malformed']);
    r.removePort('vif1.0');
    expect(r.forward('eth0', udp(NIC_MAC.eth0!, VM.ip)).drops).toEqual(['no_route']);
    expect(r.stats()).toMatchObject({ noRoute: 2, ttlExceeded: 1, notForRouter: 1 });
  });
});
