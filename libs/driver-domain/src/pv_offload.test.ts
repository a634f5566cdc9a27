// The PV transmit path with Menon et al.'s virtual offloads, guest to wire, in one process:
// guest stack → netfront (multi-slot GSO requests) → netback → bridge → NIC driver → a NIC
// that may or may not insert checksums and cut segments → a peer stack on the wire. Who pays
// for checksums and segmentation, and the bytes on the wire, are what is checked.
import { describe, expect, it } from 'vitest';
import { Bridge } from '@vnetlab/bridge';
import { CostTable, Cpu, Ledger } from '@vnetlab/cost';
import { decodeEthernet, decodeIpv4, decodeTcp } from '@vnetlab/frames';
import { GuestKernel } from '@vnetlab/guest';
import { GrantTableWriter, Hypervisor } from '@vnetlab/hypervisor';
import { BufferMachineMemory, GuestMemory, PagePool } from '@vnetlab/memory';
import type { HypervisorPort } from '@vnetlab/netback';
import { GSO_MAX_FRAME, Netfront } from '@vnetlab/netfront';
import { NetStack } from '@vnetlab/netstack';
import { Nic, NicDriver, machineMemoryDma } from '@vnetlab/nic';
import { DriverDomain } from './driver_domain.js';
import { nicUplink } from './nic_uplink.js';

type Offload = { csum: boolean; tso: boolean };
const OFF: Offload = { csum: false, tso: false };
const UPLINK_PORT = 999;
const PEER = { mac: '02:00:00:00:09:09', ip: '10.0.0.99' };

function lab(guestOffload: Offload, nicOffload: Offload) {
  const mem = new BufferMachineMemory(8192);
  const costs = new CostTable();
  const ledger = new Ledger(costs);
  const hv = new Hypervisor({ mem, costs });
  const dom0 = hv.createDomain('dom0', 2048);
  const dom0Mem = new GuestMemory(mem, dom0.p2m);
  const pool = new PagePool(dom0.p2m.map((_, i) => i).slice(16));
  const dom0Cpu = new Cpu('cpu0', 2.8e9, ledger);
  const port0: HypervisorPort = {
    grantCopy: async (ops) => hv.grantCopy(dom0.domid, ops),
    grantMap: async (granter, gref, ro) => hv.grantMap(dom0.domid, granter, gref, ro),
    grantTransfer: async (gfn, to, gref) => hv.grantTransfer(dom0.domid, gfn, to, gref),
    populatePhysmap: async (gfn) => hv.populatePhysmap(dom0.domid, gfn),
  } as HypervisorPort;

  // the NIC, its driver in dom0, and a peer stack at the other end of the cable
  const nic = new Nic({ name: 'eth0', lineRateBps: 1e9, queueSets: 1, dma: machineMemoryDma(mem), offload: nicOffload });
  const driver = new NicDriver({ mem: dom0Mem, pool, offload: nicOffload });
  nic.configureQueueSet(0, { ...driver.setup(), macs: [], promiscuous: true });
  const peer = new NetStack(PEER);
  peer.listenTcp(5001, { ackEvery: 1 });
  const wire: Buffer[] = [];
  let dd: DriverDomain;
  const interrupts = () => {
    for (let next = nic.nextInterruptNs(); next !== undefined; next = nic.nextInterruptNs()) {
      for (const irq of nic.takeInterrupts(next)) void dd.onEvent(UPLINK_PORT, irq.tNs);
    }
  };
  const doorbell = (ring: 'tx' | 'rx', tail: number, tNs: number) =>
    setImmediate(() => {
      if (ring === 'rx') nic.doorbellRx(0, tail, tNs);
      else {
        for (const w of nic.doorbellTx(0, tail, tNs).wire) {
          wire.push(w.bytes);
          for (const back of peer.receive(w.bytes, w.tNs + 10_000).frames) nic.receive(back, w.tNs + 20_000);
        }
      }
      interrupts();
    });
  dd = new DriverDomain({
    mem, dom0: dom0Mem, pages: pool, cpu: dom0Cpu, bridge: new Bridge(),
    uplink: { name: 'eth0', driver: nicUplink(driver, doorbell, dom0Cpu), port: UPLINK_PORT },
    ports: { hv: port0, notify: (port, t) => send(dom0.domid, port, t) },
  });
  doorbell('rx', driver.postRxBuffers(), 0);

  const handlers = new Map<number, (port: number, tNs: number) => void>();
  const send = (caller: number, port: number, tNs: number) => {
    const r = hv.evtchnSend(caller, port);
    if (r.target) {
      const target = r.target;
      setImmediate(() => handlers.get(target.domid)?.(target.port, tNs));
    }
  };
  handlers.set(dom0.domid, (port, t) => void dd.onEvent(port, t));

  const info = hv.createDomain('vm1', 1024);
  const gm = new GuestMemory(mem, info.p2m);
  const cpu = new Cpu('cpu1', 2.8e9, ledger);
  const mac = '00:16:3e:00:00:01';
  const netfront = new Netfront({
    mem: gm, grants: new GrantTableWriter(mem, info.grantFrames), backendDomid: dom0.domid, rxMode: 'copy',
    pages: new PagePool(info.p2m.map((_, j) => j).slice(16)), cpu, domain: 'vm1',
  });
  const stack = new NetStack({ mac, ip: '10.0.0.1', ...(guestOffload.tso ? { tsoMaxBytes: GSO_MAX_FRAME - 54 } : {}) });
  const { port } = hv.evtchnAllocUnbound(info.domid, dom0.domid);
  const kernel = new GuestKernel({ domain: 'vm1', mac, netfront, stack, cpu, notify: (t) => send(info.domid, port, t), idleTimerMs: 500, offload: guestOffload });
  handlers.set(info.domid, (_p, t) => void kernel.onEvent(t));

  const run = async (bytes: number) => {
    const { txRingRef, rxRingRef } = netfront.setup();
    const bound = hv.evtchnBindInterdomain(dom0.domid, info.domid, port);
    await dd.addVif({ name: 'vif1.0', frontDomid: info.domid, port: bound.port, rxMode: 'copy', mac, features: { sg: true, gsoTcpv4: true } }, txRingRef, rxRingRef, 0);
    const r = await kernel.tcpBulk(PEER.ip, 5001, bytes, 30_000);
    const rows = ledger.snapshot();
    const cycles = (domain: string, primitive?: string) => rows.filter((x) => x.domain === domain && (!primitive || x.primitive === primitive)).reduce((n, x) => n + x.cycles, 0);
    const ops = (domain: string, primitive: string) => rows.filter((x) => x.domain === domain && x.primitive === primitive).reduce((n, x) => n + x.ops, 0);
    /** Bytes a per-byte primitive was charged for. */
    const bytesOf = (domain: string, primitive: 'checksum_byte') => cycles(domain, primitive) / costs.cycles(primitive, 1);
    const sink = peer.stats().flows.find((f) => f.role === 'receiver')!;
    return { r, cycles, ops, bytesOf, sink, wire, peer, nic, netback: dd.vifStats()[0]! };
  };
  return { run };
}

/** Every data frame on the wire decodes (IPv4 and TCP checksums verify) and fits the MTU. */
function checkWire(wire: Buffer[]) {
  let data = 0;
  for (const f of wire) {
    expect(f.length).toBeLessThanOrEqual(1514);
    const eth = decodeEthernet(f);
    if (eth.ethertype !== 0x0800) continue; // ARP
    const ip = decodeIpv4(eth.payload);
    if (ip.protocol === 6 && decodeTcp(ip.payload, ip.src, ip.dst).payload.length > 0) data++;
  }
  return data;
}

const BYTES = 300_000;
/** The ICMP echo the kernel sends to resolve the peer first: ICMP checksums are never offloaded. */
const PING_ICMP_BYTES = 8 + 8;

describe('PV transmit with virtual checksum offload and TSO', () => {
  it('csum+tso with a NIC that has both: every byte arrives, the guest checksums nothing, the NIC cuts and checksums', async () => {
    const x = await lab({ csum: true, tso: true }, { csum: true, tso: true }).run(BYTES);
    expect(x.sink).toMatchObject({ bytesDelivered: BYTES, corruptBytes: 0 });
    expect(x.peer.stats().drops).toEqual({});
    expect(checkWire(x.wire)).toBeGreaterThanOrEqual(Math.ceil(BYTES / 1460));
    expect(x.bytesOf('vm1', 'checksum_byte')).toBe(PING_ICMP_BYTES);
    expect(x.cycles('dom0', 'checksum_byte')).toBe(0);
    expect(x.ops('dom0', 'gso_segment')).toBe(0);
    expect(x.nic.offloadWork.tsoSegments).toBeGreaterThan(0);
    expect(x.netback.offload.gso).toBeGreaterThan(0);
    // per-packet work once per large segment: far fewer stack_tx than frames on the wire
    expect(x.ops('vm1', 'stack_tx')).toBeLessThan(checkWire(x.wire) / 3);
  });

  it('csum+tso with a NIC that has neither: dom0 cuts (gso_segment per frame) and checksums in software', async () => {
    const x = await lab({ csum: true, tso: true }, OFF).run(BYTES);
    expect(x.sink).toMatchObject({ bytesDelivered: BYTES, corruptBytes: 0 });
    expect(x.peer.stats().drops).toEqual({});
    const frames = checkWire(x.wire);
    expect(x.bytesOf('vm1', 'checksum_byte')).toBe(PING_ICMP_BYTES);
    expect(x.ops('dom0', 'gso_segment')).toBeGreaterThan(frames / 2);
    // dom0 checksums about every byte sent (each frame's TCP header and payload)
    expect(x.bytesOf('dom0', 'checksum_byte')).toBeGreaterThanOrEqual(BYTES);
    expect(x.nic.offloadWork.tsoSegments).toBe(0);
  });

  it('csum alone: the NIC inserts the checksum when it can, dom0 computes it when it cannot; the guest never does', async () => {
    const withNic = await lab({ csum: true, tso: false }, { csum: true, tso: false }).run(100_000);
    expect(withNic.sink).toMatchObject({ bytesDelivered: 100_000, corruptBytes: 0 });
    checkWire(withNic.wire);
    expect(withNic.bytesOf('vm1', 'checksum_byte')).toBe(PING_ICMP_BYTES);
    expect(withNic.cycles('dom0', 'checksum_byte')).toBe(0);
    expect(withNic.nic.offloadWork.checksums).toBeGreaterThan(0);
    const without = await lab({ csum: true, tso: false }, OFF).run(100_000);
    expect(without.sink).toMatchObject({ bytesDelivered: 100_000, corruptBytes: 0 });
    expect(without.bytesOf('vm1', 'checksum_byte')).toBe(PING_ICMP_BYTES);
    expect(without.bytesOf('dom0', 'checksum_byte')).toBeGreaterThanOrEqual(100_000);
  });

  it('offloads off: the guest stack checksums every byte it sends, dom0 and the NIC none', async () => {
    const x = await lab(OFF, { csum: true, tso: true }).run(100_000);
    expect(x.sink).toMatchObject({ bytesDelivered: 100_000, corruptBytes: 0 });
    expect(x.bytesOf('vm1', 'checksum_byte')).toBeGreaterThanOrEqual(100_000);
    expect(x.cycles('dom0', 'checksum_byte')).toBe(0);
    expect(x.nic.offloadWork).toEqual({ tsoSegments: 0, tsoFrames: 0, checksums: 0 });
    expect(x.netback.offload).toEqual({ csumBlank: 0, gso: 0, gsoChecksumFixup: 0 });
  });

  it('tso alone: the guest still checksums the large segment in software; the checksums are redone where it is cut', async () => {
    const x = await lab({ csum: false, tso: true }, OFF).run(BYTES);
    expect(x.sink).toMatchObject({ bytesDelivered: BYTES, corruptBytes: 0 });
    checkWire(x.wire);
    expect(x.bytesOf('vm1', 'checksum_byte')).toBeGreaterThanOrEqual(BYTES);
    expect(x.netback.offload.gsoChecksumFixup).toBeGreaterThan(0);
    expect(x.bytesOf('dom0', 'checksum_byte')).toBeGreaterThanOrEqual(BYTES);
  });
});
