// dom0 forwarding between two physical NICs on one switch (Emmerich et al.'s pNIC→pNIC path):
// frames DMA'd in on eth0 leave on eth1 byte for byte, through the bridge or the vswitch,
// with the NIC driver's receive and transmit and one switch decision charged per frame.
import { describe, expect, it } from 'vitest';
import { Bridge } from '@vnetlab/bridge';
import { CostTable, Cpu, Ledger } from '@vnetlab/cost';
import { buildUdpFrame } from '@vnetlab/frames';
import { Hypervisor } from '@vnetlab/hypervisor';
import { BufferMachineMemory, GuestMemory, PagePool } from '@vnetlab/memory';
import type { HypervisorPort } from '@vnetlab/netback';
import { Nic, NicDriver, machineMemoryDma } from '@vnetlab/nic';
import { VSwitch } from '@vnetlab/vswitch';
import { BridgeSwitch } from './bridge_switch.js';
import type { DomainSwitch } from './domain_switch.js';
import { DriverDomain } from './driver_domain.js';
import { nicUplink } from './nic_uplink.js';
import { OvsSwitch } from './ovs_switch.js';

const GEN = { mac: '02:00:00:00:0a:0a', ip: '10.0.0.10' };
const SINK = { mac: '02:00:00:00:0b:0b', ip: '10.0.0.20' };

function dut(sw: DomainSwitch) {
  const mem = new BufferMachineMemory(4096);
  const costs = new CostTable();
  const ledger = new Ledger(costs);
  const hv = new Hypervisor({ mem, costs });
  const dom0 = hv.createDomain('dom0', 2048);
  const dom0Mem = new GuestMemory(mem, dom0.p2m);
  const pool = new PagePool(dom0.p2m.map((_, i) => i).slice(16));
  const cpu = new Cpu('cpu0', 3.3e9, ledger);
  const wires: Record<string, Buffer[]> = { eth0: [], eth1: [] };
  const nics: Record<string, { nic: Nic; port: number }> = {};
  let dd: DriverDomain | undefined = undefined;
  const uplinks = ['eth0', 'eth1'].map((name, i) => {
    const nic = new Nic({ name, lineRateBps: 10e9, queueSets: 1, dma: machineMemoryDma(mem) });
    const driver = new NicDriver({ mem: dom0Mem, pool });
    nic.configureQueueSet(0, { ...driver.setup(), macs: [], promiscuous: true });
    const port = 900 + i;
    nics[name] = { nic, port };
    const doorbell = (ring: 'tx' | 'rx', tail: number, tNs: number) => {
      if (ring === 'rx') nic.doorbellRx(0, tail, tNs);
      else for (const w of nic.doorbellTx(0, tail, tNs).wire) wires[name]!.push(w.bytes);
    };
    const up = { name, driver: nicUplink(driver, doorbell, cpu), port };
    doorbell('rx', driver.postRxBuffers(), 0);
    return up;
  });
  const base = { mem, dom0: dom0Mem, pages: pool, cpu, ports: { hv: {} as HypervisorPort, notify: () => undefined } };
  dd = new DriverDomain({ ...base, switch: sw, uplinks });
  /** A frame arrives on `name`'s cable; dom0 takes the NIC's interrupts. */
  const arrive = async (name: string, frame: Buffer, tNs: number) => {
    const { nic, port } = nics[name]!;
    nic.receive(frame, tNs);
    for (let next = nic.nextInterruptNs(); next !== undefined; next = nic.nextInterruptNs()) {
      for (const irq of nic.takeInterrupts(next)) await dd!.onEvent(port, irq.tNs);
    }
  };
  const ops = (primitive: string) => ledger.snapshot().filter((r) => r.domain === 'dom0' && r.primitive === primitive).reduce((n, r) => n + r.ops, 0);
  return { dd, arrive, wires, ops, base };
}

const frame = (i: number) => buildUdpFrame({ srcMac: GEN.mac, dstMac: SINK.mac, srcIp: GEN.ip, dstIp: SINK.ip, srcPort: 4000, dstPort: 9, payload: Buffer.alloc(18, i) });
const reply = buildUdpFrame({ srcMac: SINK.mac, dstMac: GEN.mac, srcIp: SINK.ip, dstIp: GEN.ip, srcPort: 9, dstPort: 4000, payload: Buffer.alloc(18) });

describe.each([
  ['bridge', () => new BridgeSwitch(new Bridge()), 'bridge_lookup'],
  ['vswitch', () => new OvsSwitch(new VSwitch()), 'flow_lookup'],
] as const)('dom0 forwards between two NICs on one %s', (_kind, make, lookup) => {
  it('puts every frame from eth0 on eth1 unchanged, and nothing back on eth0', async () => {
    const d = dut(make());
    await d.arrive('eth1', reply, 0); // the sink is learned behind eth1 (and the frame goes out on eth0)
    const before = { rx: d.ops('nic_driver_rx'), tx: d.ops('nic_driver_tx'), lookup: d.ops(lookup) };
    d.wires.eth0!.length = 0;
    const sent = Array.from({ length: 20 }, (_, i) => frame(i));
    for (let i = 0; i < sent.length; i++) await d.arrive('eth0', sent[i]!, 1_000_000 + i * 100);
    expect(d.wires.eth1!.map((b) => b.toString('hex'))).toEqual(sent.map((b) => b.toString('hex')));
    expect(d.wires.eth0).toEqual([]);
    // per frame: the driver's receive, one switch decision, the driver's transmit
    expect(d.ops('nic_driver_rx') - before.rx).toBe(20);
    expect(d.ops(lookup) - before.lookup).toBeGreaterThanOrEqual(20);
    expect(d.ops('nic_driver_tx') - before.tx).toBeGreaterThan(0);
    expect(d.dd.flows.snapshot().reduce((n, f) => n + Object.values(f.drops).reduce((a, b) => a + b, 0), 0)).toBe(0);
  });

  it('refuses the same uplink twice', () => {
    const d = dut(make());
    const twice = [{ name: 'x', driver: {} as never, port: 1 }, { name: 'x', driver: {} as never, port: 2 }];
    expect(() => new DriverDomain({ ...d.base, switch: make(), uplinks: twice })).toThrow(/given twice/);
  });
});

describe('a failed NIC (seed 004): hold, redirect, restore', () => {
  it('holds frames for a NIC whose link is down, sends them through the redirect, and the NIC again once restored', async () => {
    const d = dut(new BridgeSwitch(new Bridge()));
    await d.arrive('eth1', reply, 0); // the sink is learned behind eth1
    await d.dd.holdUplink('eth1', true, 100_000);
    const sent = Array.from({ length: 5 }, (_, i) => frame(i));
    for (let i = 0; i < sent.length; i++) await d.arrive('eth0', sent[i]!, 1_000_000 + i * 100);
    expect(d.wires.eth1).toEqual([]);
    expect(d.dd.heldFrames()).toBe(5);

    const redirected: Buffer[] = [];
    const encapBefore = d.ops('vxlan_encap');
    await d.dd.redirectUplink('eth1', (frames) => redirected.push(...frames.map((f) => Buffer.from(f.bytes))), 2_000_000);
    expect(redirected.map((b) => b.toString('hex'))).toEqual(sent.map((b) => b.toString('hex')));
    expect(d.dd.heldFrames()).toBe(0);
    expect(d.ops('vxlan_encap') - encapBefore).toBe(5);
    expect(d.dd.counters.redirectedOut).toBe(5);

    // the way back: the other host's driver domain sends the generator's peer a frame
    d.wires.eth0!.length = 0;
    await d.dd.fromRemote('eth1', [{ bytes: reply, tNs: 3_000_000 }]);
    expect(d.wires.eth0!.map((b) => b.toString('hex'))).toEqual([reply.toString('hex')]);
    expect(d.dd.counters.redirectedIn).toBe(1);

    // restored: frames go to the NIC again
    await d.dd.holdUplink('eth1', false, 4_000_000);
    await d.arrive('eth0', frame(9), 5_000_000);
    expect(d.wires.eth1!.map((b) => b.toString('hex'))).toEqual([frame(9).toString('hex')]);
    expect(redirected).toHaveLength(5);
    expect(d.dd.flows.snapshot().reduce((n, f) => n + Object.values(f.drops).reduce((a, b) => a + b, 0), 0)).toBe(0);
  });

  it('switches frames to a remote port (the temporary backend\'s side) and refuses an unknown one', async () => {
    const d = dut(new BridgeSwitch(new Bridge()));
    const out: Buffer[] = [];
    d.dd.addRemotePort('redir-a', (frames) => out.push(...frames.map((f) => f.bytes)));
    // a frame from the remote host's guest teaches the bridge where it is
    await d.dd.fromRemote('redir-a', [{ bytes: reply, tNs: 0 }]);
    await d.arrive('eth0', frame(1), 1_000_000);
    expect(out.map((b) => b.toString('hex'))).toContain(frame(1).toString('hex'));
    await expect(d.dd.fromRemote('nowhere', [{ bytes: reply, tNs: 0 }])).rejects.toThrow(/no uplink or remote port/);
    // a burst that came before the port's release goes through it: the release waits for it
    const late = d.dd.fromRemote('redir-a', [{ bytes: reply, tNs: 2_000_000 }]);
    const removed = d.dd.removeRemotePort('redir-a');
    await expect(late).resolves.toBeUndefined();
    await removed;
    expect(d.dd.counters.redirectedIn).toBe(2);
    await expect(d.dd.fromRemote('redir-a', [{ bytes: reply, tNs: 3_000_000 }])).rejects.toThrow(/no uplink or remote port redir-a/);
  });
});
