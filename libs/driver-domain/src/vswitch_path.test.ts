// Two hosts in one process, each a driver domain running Open vSwitch with a VTEP, joined
// by a wire: guests of one VNI reach each other inside VXLAN, guests of different VNIs
// never do, and the same MAC and IP in two VNIs stay two stations.
import { describe, expect, it } from 'vitest';
import { CostTable, Cpu, Ledger } from '@vnetlab/cost';
import { decapVxlan, type SkBuff } from '@vnetlab/frames';
import { GuestKernel } from '@vnetlab/guest';
import { GrantTableWriter, Hypervisor } from '@vnetlab/hypervisor';
import { BufferMachineMemory, GuestMemory, PagePool } from '@vnetlab/memory';
import type { HypervisorPort } from '@vnetlab/netback';
import { Netfront } from '@vnetlab/netfront';
import { NetStack } from '@vnetlab/netstack';
import { VSwitch } from '@vnetlab/vswitch';
import { DriverDomain, type Uplink } from './driver_domain.js';
import type { FrameEvent } from './frame_observer.js';
import { OvsSwitch } from './ovs_switch.js';

interface GuestSpec { name: string; mac: string; ip: string; vni: number }
const UPLINK_PORT = 1000; // dom0's event-channel port for the fake NIC's interrupt

/** A NIC driver stub: what it transmits lands in the peer's receive queue, whose interrupt fires. */
class WireUplink implements Uplink {
  peer?: WireUplink;
  wire: Buffer[] = [];
  private rx: SkBuff[] = [];
  private done: number[] = [];
  constructor(private readonly raise: (tNs: number) => void) {}
  transmit(skbs: SkBuff[], tNs: number) {
    for (const s of skbs) {
      this.wire.push(Buffer.from(s.bytes));
      if (s.page) this.done.push(s.page.gfn);
      this.peer!.rx.push({ bytes: Buffer.from(s.bytes), tNs: tNs + 10_000 });
      setImmediate(() => this.peer!.raise(tNs + 10_000));
    }
    return { accepted: skbs.length, tNs };
  }
  onInterrupt(tNs: number) {
    const rx = this.rx.splice(0);
    return { rx, freedGfns: this.done.splice(0), tNs };
  }
  txRoom() { return 256; }
}

function buildHost(name: string, vtep: string, mac: string, guests: GuestSpec[]) {
  const mem = new BufferMachineMemory(16384);
  const costs = new CostTable();
  const ledger = new Ledger(costs);
  const hv = new Hypervisor({ mem, costs });
  const dom0 = hv.createDomain('dom0', 2048);
  const handlers = new Map<number, (port: number, tNs: number) => void>();
  const send = (caller: number, port: number, tNs: number) => {
    const r = hv.evtchnSend(caller, port);
    if (r.target) {
      const target = r.target;
      setImmediate(() => handlers.get(target.domid)?.(target.port, tNs));
    }
  };
  const port0 = {
    grantCopy: async (ops) => hv.grantCopy(dom0.domid, ops),
    grantMap: async (granter, gref, ro) => hv.grantMap(dom0.domid, granter, gref, ro),
    grantTransfer: async (gfn, to, gref) => hv.grantTransfer(dom0.domid, gfn, to, gref),
    populatePhysmap: async (gfn) => hv.populatePhysmap(dom0.domid, gfn),
  } as HypervisorPort;
  const events: FrameEvent[] = [];
  const observer = { active: true, frame: (e: FrameEvent) => events.push(e) };
  const tapped: Array<{ port: string; direction: 'rx' | 'tx'; bytes: Buffer; tNs: number }> = [];
  const portTap = { active: false, frame: (port: string, direction: 'rx' | 'tx', bytes: Buffer, tNs: number) => tapped.push({ port, direction, bytes: Buffer.from(bytes), tNs }) };
  const sw = new OvsSwitch(new VSwitch(), { localIp: vtep, localMac: mac });
  let dd!: DriverDomain;
  const uplink = new WireUplink((t) => void dd.onEvent(UPLINK_PORT, t));
  dd = new DriverDomain({
    mem, dom0: new GuestMemory(mem, dom0.p2m), pages: new PagePool(dom0.p2m.map((_, i) => i).slice(16)),
    cpu: new Cpu('cpu0', 2.8e9, ledger), switch: sw, uplink: { name: 'eth0', driver: uplink, port: UPLINK_PORT },
    ports: { hv: port0, notify: (port, t) => send(dom0.domid, port, t) }, observer, portTap,
  });
  handlers.set(dom0.domid, (port, t) => void dd.onEvent(port, t));
  const vms = guests.map((g, i) => {
    const info = hv.createDomain(g.name, 1024);
    const cpu = new Cpu(`cpu${i + 1}`, 2.8e9, ledger);
    const netfront = new Netfront({
      mem: new GuestMemory(mem, info.p2m), grants: new GrantTableWriter(mem, info.grantFrames), backendDomid: dom0.domid, rxMode: 'copy',
      pages: new PagePool(info.p2m.map((_, j) => j).slice(16)), cpu, domain: info.name,
      hv: { acceptTransfer: async (gref, gfn) => hv.acceptTransfer(info.domid, gref, gfn) },
    });
    const stack = new NetStack({ mac: g.mac, ip: g.ip });
    const { port } = hv.evtchnAllocUnbound(info.domid, dom0.domid);
    const kernel = new GuestKernel({ domain: info.name, mac: g.mac, netfront, stack, cpu, notify: (t) => send(info.domid, port, t), idleTimerMs: 1000 });
    handlers.set(info.domid, (_p, t) => void kernel.onEvent(t));
    return { ...g, info, netfront, kernel, port };
  });
  const connect = async () => {
    for (const g of vms) {
      const { txRingRef, rxRingRef } = g.netfront.setup();
      const bound = hv.evtchnBindInterdomain(dom0.domid, g.info.domid, g.port);
      await dd.addVif({ name: `vif${g.info.domid}.0`, frontDomid: g.info.domid, port: bound.port, rxMode: 'copy', vni: g.vni }, txRingRef, rxRingRef, 0);
    }
  };
  return { name, vtep, mac, sw, dd, uplink, ledger, vms, connect, events, portTap, tapped };
}

async function overlay() {
  const a = buildHost('a', '172.16.0.1', '02:00:00:00:0a:01', [
    { name: 'a1', mac: '00:16:3e:00:00:01', ip: '10.0.0.1', vni: 100 },
    { name: 'a2', mac: '00:16:3e:00:00:02', ip: '10.0.0.2', vni: 200 },
  ]);
  const b = buildHost('b', '172.16.0.2', '02:00:00:00:0b:01', [
    { name: 'b1', mac: '00:16:3e:00:00:03', ip: '10.0.0.3', vni: 100 },
    // the same MAC and IP as a1, in the other VNI
    { name: 'b2', mac: '00:16:3e:00:00:01', ip: '10.0.0.1', vni: 200 },
  ]);
  a.uplink.peer = b.uplink;
  b.uplink.peer = a.uplink;
  for (const vni of [100, 200]) {
    a.sw.addVtep(vni, b.vtep, b.mac);
    b.sw.addVtep(vni, a.vtep, a.mac);
  }
  await a.connect();
  await b.connect();
  return { a, b };
}

const delivered = (k: GuestKernel) => k.flows.snapshot().reduce((n, f) => n + f.deliveredFrames, 0);

describe('driver domains with Open vSwitch and VXLAN', () => {
  it('a guest pings a guest of its VNI on the other host, inside VXLAN on the wire', async () => {
    const { a, b } = await overlay();
    const r = await a.vms[0]!.kernel.ping('10.0.0.3', 2);
    expect(r.received).toBe(2);
    const outer = a.uplink.wire.map((w) => decapVxlan(w));
    expect(outer.length).toBeGreaterThan(0);
    expect(outer.every((p) => p.vni === 100 && p.outer.srcIp === '172.16.0.1' && p.outer.dstMac === '02:00:00:00:0b:01')).toBe(true);
    // the vswitch's work is charged on dom0: flow lookups and encapsulations
    const rows = a.ledger.snapshot().filter((x) => x.pcpu === 'cpu0' && x.domain === 'dom0');
    expect(rows.find((x) => x.primitive === 'flow_lookup')?.ops).toBeGreaterThan(0);
    expect(rows.find((x) => x.primitive === 'vxlan_encap')?.ops).toBeGreaterThan(0);
    expect(rows.some((x) => x.primitive === 'bridge_lookup')).toBe(false);
    expect(b.sw.vswitch.stats().ports['vif1.0']?.txFrames).toBeGreaterThan(0);
  });

  it('a guest cannot reach a guest of another VNI', async () => {
    const { a } = await overlay();
    const r = await a.vms[1]!.kernel.ping('10.0.0.3', 1, 56, 300);
    expect(r.received).toBe(0);
  });

  it('the same MAC and IP in two VNIs are two stations: each VNI reaches its own', async () => {
    const { a, b } = await overlay();
    const before = delivered(a.vms[0]!.kernel);
    // a2 (VNI 200) pings 10.0.0.1: b2 answers, never a1 (VNI 100, same MAC and IP)
    const r = await a.vms[1]!.kernel.ping('10.0.0.1', 2);
    expect(r.received).toBe(2);
    expect(delivered(b.vms[1]!.kernel)).toBeGreaterThan(0);
    expect(delivered(a.vms[0]!.kernel)).toBe(before);
    // and b1 (VNI 100) reaches a1 at the same address
    const s = await b.vms[0]!.kernel.ping('10.0.0.1', 1);
    expect(s.received).toBe(1);
    expect(delivered(a.vms[0]!.kernel)).toBeGreaterThan(before);
  });

  it('tells an active observer every step a frame takes, with what it cost', async () => {
    const { a, b } = await overlay();
    await a.vms[0]!.kernel.ping('10.0.0.3', 1);
    const steps = new Set(a.events.map((e) => e.step));
    expect([...steps].sort()).toEqual(['netback_rx', 'netback_tx', 'nic_driver_rx', 'nic_driver_tx', 'switch']);
    const sw = a.events.find((e) => e.step === 'switch' && e.outputs?.some((o) => o.includes('VXLAN')))!;
    expect(sw.switchSteps!.map((s) => s.step)).toContain('encap');
    expect(sw.charges.map((c) => c.primitive)).toContain('vxlan_encap');
    expect(b.events.some((e) => e.step === 'switch' && e.switchSteps!.some((s) => s.step === 'decap'))).toBe(true);
  });

  it('a port tap sees each switch port as tcpdump would: the vif and the tunnel port inner frames, the uplink VXLAN', async () => {
    const { a, b } = await overlay();
    await a.vms[0]!.kernel.ping('10.0.0.3', 1); // ARP and MACs learned: the next ping is two frames
    expect(a.tapped).toEqual([]); // nothing is copied while no capture is active
    a.portTap.active = true;
    b.portTap.active = true;
    const r = await a.vms[0]!.kernel.ping('10.0.0.3', 1);
    expect(r.received).toBe(1);
    expect(a.dd.switchPorts().sort()).toEqual(['eth0', 'vif1.0', 'vif2.0', 'vxlan0']);
    const at = (h: typeof a, port: string, direction: 'rx' | 'tx') => h.tapped.filter((x) => x.port === port && x.direction === direction);
    const icmpType = (f: Buffer) => f[14 + 20];
    // host a: the request in at a1's vif and out at vxlan0 as the inner frame, out at eth0 inside VXLAN
    const req = at(a, 'vif1.0', 'rx');
    expect(req.map((x) => icmpType(x.bytes))).toEqual([8]);
    const tunTx = at(a, 'vxlan0', 'tx');
    expect(tunTx.map((x) => x.bytes)).toEqual(req.map((x) => x.bytes));
    const upTx = at(a, 'eth0', 'tx');
    expect(upTx).toHaveLength(1);
    const outer = decapVxlan(upTx[0]!.bytes);
    expect(outer.vni).toBe(100);
    expect(outer.inner.equals(req[0]!.bytes)).toBe(true);
    // the reply: VXLAN in at eth0, its inner frame in at vxlan0, out at the vif
    const upRx = at(a, 'eth0', 'rx');
    expect(upRx).toHaveLength(1);
    const tunRx = at(a, 'vxlan0', 'rx');
    expect(tunRx.map((x) => x.bytes)).toEqual([decapVxlan(upRx[0]!.bytes).inner]);
    expect(at(a, 'vif1.0', 'tx').map((x) => icmpType(x.bytes))).toEqual([0]);
    expect(tunRx[0]!.bytes.equals(at(a, 'vif1.0', 'tx')[0]!.bytes)).toBe(true);
    // a port's sent frame leaves after the switch's decision, never before it arrived
    expect(upTx[0]!.tNs).toBeGreaterThan(req[0]!.tNs);
    // host b saw the same request arrive at its uplink and leave at b1's vif
    expect(at(b, 'eth0', 'rx').map((x) => x.bytes)).toEqual(upTx.map((x) => x.bytes));
    expect(at(b, 'vif1.0', 'tx').map((x) => x.bytes)).toEqual(req.map((x) => x.bytes));
  });
});
