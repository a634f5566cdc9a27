// A frontend that grants its backend a frame it does not own (its p2m entry pointed at the
// victim's frame): the grant check refuses every use of it — netback's grant copy (pv) and the
// multiqueue backend's grant map, which is how the driver domain makes sure a buffer on a
// guest's queue set is that guest's (seed 001). With protection off the victim's page leaves
// on the wire and received frames are written into it.
import { describe, expect, it } from 'vitest';
import { CostTable, Cpu, Ledger } from '@vnetlab/cost';
import { GNTST_okay } from '@vnetlab/hypervisor';
import { GuestMemory } from '@vnetlab/memory';
import { Nic, QueueSetDriver, machineMemoryDma } from '@vnetlab/nic';
import { MultiqueueBackend, type MqCookie } from './multiqueue_backend.js';
import { frame, testbed, type Testbed } from './testbed.js';

const SECRET = Buffer.from('victim kernel page: nobody else may read or write this');

/** The victim, and the attacker's page that names the victim's frame. */
async function hostile(protection: boolean, rxMode: 'copy' = 'copy') {
  const tb = await testbed({ rxMode, connect: false });
  tb.hv.setProtection(protection);
  const victim = tb.hv.createDomain('victim', 8);
  const vmem = new GuestMemory(tb.mem, victim.p2m);
  vmem.write(0, 0, Buffer.concat([SECRET, Buffer.alloc(1514 - SECRET.length, 0x11)]));
  const gfn = tb.guestPool.take()!;
  expect(tb.hv.p2mWrite(tb.guestDomid, gfn, victim.p2m[0]!).status).toBe(GNTST_okay);
  return { tb, vmem, gfn, before: vmem.read(0, 0, 4096) };
}

/** A multiqueue backend for the testbed's guest, its queue set on a real NIC reading and writing machine memory. */
async function multiqueue(tb: Testbed) {
  const ledger = new Ledger(new CostTable());
  const [txG, rxG] = [tb.dom0Pool.take()!, tb.dom0Pool.take()!];
  const queue = new QueueSetDriver<MqCookie>({
    read: (r, off, len) => tb.dom0.read(r === 'tx' ? txG : rxG, off, len),
    write: (r, off, data) => tb.dom0.write(r === 'tx' ? txG : rxG, off, data),
    busAddr: { tx: tb.dom0.mfnOf(txG) * 4096, rx: tb.dom0.mfnOf(rxG) * 4096 },
  });
  const nic = new Nic({ name: 'eth0', lineRateBps: 1e9, queueSets: 2, dma: machineMemoryDma(tb.mem) });
  nic.configureQueueSet(1, { ...queue.setup, macs: ['00:16:3e:00:00:01'], promiscuous: false });
  const wire: Buffer[] = [];
  const hv = {
    grantCopy: async () => [], grantTransfer: async () => ({ status: -1, cycles: 0 }), populatePhysmap: async () => ({ status: -1, mfn: 0, cycles: 0 }),
    grantMap: async (granter: number, gref: number, ro: boolean) => tb.hv.grantMap(0, granter, gref, ro),
    grantMapBatch: async (ops: Array<{ granter: number; gref: number; readonly: boolean }>) => ops.map((o) => tb.hv.grantMap(0, o.granter, o.gref, o.readonly)),
    grantUnmapBatch: async (hs: number[]) => hs.map((h) => tb.hv.grantUnmap(0, h)),
  };
  const backend = new MultiqueueBackend({
    frontDomid: tb.guestDomid, mem: tb.mem, hv, cpu: new Cpu('cpu0', 2.8e9, ledger), queue,
    doorbell: (ring, tail, t) => {
      if (ring === 'tx') wire.push(...nic.doorbellTx(1, tail, t).wire.map((w) => w.bytes));
      else nic.doorbellRx(1, tail, t);
    },
  });
  const { txRingRef, rxRingRef } = tb.netfront.setup();
  await backend.connect(txRingRef, rxRingRef, 0);
  await backend.onFrontendEvent(0); // the guest's own receive buffers go to the NIC first
  return { backend, nic, wire };
}

/** A frame for the guest's MAC, as the wire brings it. */
const incoming = () => Buffer.concat([Buffer.from('00163e000001', 'hex'), Buffer.from('00163e0000ff', 'hex'), Buffer.from('0800', 'hex'), Buffer.alloc(100, 0xab)]);

describe('netback (pv, grant copy) and a frontend granting a frame it does not own', () => {
  it('with protection on, the transmit request and the receive buffer are refused and the victim page is unchanged', async () => {
    const { tb, vmem, gfn, before } = await hostile(true);
    const { txRingRef, rxRingRef } = tb.netfront.setup();
    await tb.netback.connect(txRingRef, rxRingRef, 0);
    tb.netfront.hostileGrant(gfn, 4, 1514);
    const tx = await tb.netback.onTxEvent(0);
    expect(tx.skbs).toHaveLength(0);
    // the guest's own buffers were posted first: fill them, then the forged ones
    const own = tb.netfront.rxPosted - 4;
    const skbs = Array.from({ length: own + 4 }, (_, i) => ({ bytes: frame(200, i), tNs: 0, page: { gfn: tb.dom0Pool.take()!, offset: 0 } }));
    for (const s of skbs) tb.dom0.write(s.page.gfn, 0, s.bytes);
    const r = await tb.netback.deliver(skbs, 0);
    expect(r.delivered).toBe(own);
    await tb.netfront.onEvent(r.tNs);
    expect(tb.netfront.hostile).toEqual({ tx: { posted: 1, ok: 0, failed: 1 }, rx: { posted: 4, ok: 0, failed: 4 } });
    expect(tb.hv.violationCounts.get('grant_foreign_page')).toBe(5);
    expect(vmem.read(0, 0, 4096).equals(before)).toBe(true);
  });

  it('with protection off, the victim page leaves as a frame and a received frame is written into it', async () => {
    const { tb, vmem, gfn } = await hostile(false);
    const { txRingRef, rxRingRef } = tb.netfront.setup();
    await tb.netback.connect(txRingRef, rxRingRef, 0);
    tb.netfront.hostileGrant(gfn, 1, 1514);
    const tx = await tb.netback.onTxEvent(0);
    expect(tx.skbs).toHaveLength(1);
    expect(tx.skbs[0]!.bytes.subarray(0, SECRET.length).toString()).toBe(SECRET.toString());
    const own = tb.netfront.rxPosted - 1;
    const skbs = Array.from({ length: own + 1 }, (_, i) => ({ bytes: frame(200, i), tNs: 0, page: { gfn: tb.dom0Pool.take()!, offset: 0 } }));
    for (const s of skbs) tb.dom0.write(s.page.gfn, 0, s.bytes);
    await tb.netback.deliver(skbs, 0);
    expect(vmem.read(0, 0, 200).equals(frame(200, own))).toBe(true);
  });
});

describe('the multiqueue backend and a frontend granting a frame it does not own', () => {
  it('with protection on, the grant map refuses the buffers: the NIC sends nothing of the victim and writes nothing into it', async () => {
    const { tb, vmem, gfn, before } = await hostile(true);
    const { backend, nic, wire } = await multiqueue(tb);
    tb.netfront.hostileGrant(gfn, 4, 1514);
    await backend.onFrontendEvent(1000);
    expect(wire).toHaveLength(0);
    expect(backend.stats.txErrors).toMatchObject({ 'map_failed_-9': 1 });
    // the refusal is answered at once: the guest learns its request failed
    await tb.netfront.onEvent(1000);
    expect(tb.netfront.hostile.tx).toEqual({ posted: 1, ok: 0, failed: 1 });
    for (let i = 0; i < 300; i++) nic.receive(incoming(), 2000 + i * 20_000);
    expect(vmem.read(0, 0, 4096).equals(before)).toBe(true);
    expect(tb.hv.violationCounts.get('grant_foreign_page')).toBe(5);
  });

  it('with protection off, the NIC transmits the victim page and its receive DMA overwrites it', async () => {
    const { tb, vmem, gfn, before } = await hostile(false);
    const { backend, nic, wire } = await multiqueue(tb);
    tb.netfront.hostileGrant(gfn, 4, 1514);
    await backend.onFrontendEvent(1000);
    expect(wire).toHaveLength(1);
    expect(wire[0]!.subarray(0, SECRET.length).toString()).toBe(SECRET.toString());
    for (let i = 0; i < 300; i++) nic.receive(incoming(), 2000 + i * 20_000);
    expect(vmem.read(0, 0, 4096).equals(before)).toBe(false);
    expect(vmem.read(0, 0, 6).toString('hex')).toBe('00163e000001');
  });
});
