// A passed-through guest's driver writes descriptors into its own rings, unchecked: the
// machine addresses of another domain's frames. The IOMMU is what stops the device reaching
// them; with the host's protection off (the IOMMU letting unmapped addresses through) the
// victim's page leaves on the wire and received frames overwrite it.
import { describe, expect, it } from 'vitest';
import { CostTable, Cpu, Ledger } from '@vnetlab/cost';
import { Hypervisor } from '@vnetlab/hypervisor';
import { BufferMachineMemory, GuestMemory, PagePool } from '@vnetlab/memory';
import { Nic, QueueSetDriver, iommuDma } from '@vnetlab/nic';
import { DirectNic } from './direct_nic.js';

const MAC = '00:16:3e:00:0a:04';
const SECRET = Buffer.from('the victim kernel page');

function host(protection: boolean) {
  const mem = new BufferMachineMemory(160);
  const hv = new Hypervisor({ mem, costs: new CostTable() });
  hv.createDomain('dom0', 4);
  // the guest first: the victim's frames lie beyond the guest's 64 I/O pages, as in a lab
  // (a machine address inside them would translate to the guest's own page)
  const guest = hv.createDomain('pt', 64);
  const victim = hv.createDomain('victim', 8);
  const vmem = new GuestMemory(mem, victim.p2m);
  vmem.write(0, 0, SECRET);
  const before = vmem.read(0, 0, 4096);
  const { ctx, rootMfn } = hv.iommu.createContext(guest.domid);
  hv.iommu.mapDomain(ctx);
  const nic = new Nic({ name: 'eth1', lineRateBps: 1e9, queueSets: 1, dma: iommuDma(mem, rootMfn, { unchecked: () => !protection }) });
  const gm = new GuestMemory(mem, guest.p2m);
  const pages = new PagePool(Array.from({ length: 56 }, (_, i) => i + 8));
  const [txG, rxG] = [pages.take()!, pages.take()!];
  const queue = new QueueSetDriver<number>({
    read: (r, off, len) => gm.read(r === 'tx' ? txG : rxG, off, len),
    write: (r, off, data) => gm.write(r === 'tx' ? txG : rxG, off, data),
    busAddr: { tx: txG * 4096, rx: rxG * 4096 },
  });
  nic.configureQueueSet(0, { ...queue.setup, macs: [MAC], promiscuous: false });
  const wire: Buffer[] = [];
  const driver = new DirectNic({
    mode: 'passthrough', mem: gm, pages, cpu: new Cpu('cpu4', 2.8e9, new Ledger(new CostTable())), domain: 'pt', queue, busAddr: (gfn) => gfn * 4096, rxBuffers: 8,
    doorbell: (ring, tail, t) => {
      if (ring === 'tx') wire.push(...nic.doorbellTx(0, tail, t).wire.map((w) => w.bytes));
      else nic.doorbellRx(0, tail, t);
    },
  });
  const incoming = (i: number) => Buffer.concat([Buffer.from(MAC.replace(/:/g, ''), 'hex'), Buffer.from('00163e0000ff0800', 'hex'), Buffer.alloc(100, i)]);
  return { nic, driver, wire, vmem, before, victimMfn: victim.p2m[0]!, incoming };
}

describe('a passed-through guest aiming its descriptors at another domain\'s frame', () => {
  it('with protection on, the IOMMU refuses both: nothing of the victim leaves, nothing is written into it, and the driver receives again afterwards', async () => {
    const { nic, driver, wire, vmem, before, victimMfn, incoming } = host(true);
    await driver.start(0);
    expect((await driver.hostileTx([victimMfn], 10)).accepted).toBe(1);
    expect((await driver.hostileRx([victimMfn, victimMfn], 20)).accepted).toBe(2);
    for (let i = 0; i < 10; i++) nic.receive(incoming(i), 1000 + i * 10_000);
    const got = await driver.onEvent(200_000);
    expect(wire).toHaveLength(0);
    expect(driver.hostile).toEqual({ tx: { posted: 1, ok: 0, failed: 1 }, rx: { posted: 2, ok: 0, failed: 2 } });
    expect(vmem.read(0, 0, 4096).equals(before)).toBe(true);
    expect(got.frames).toHaveLength(8); // its own buffers got the rest
    // refill resumed once the device was done with the planted buffers
    nic.receive(incoming(99), 300_000);
    expect((await driver.onEvent(400_000)).frames).toHaveLength(1);
  });

  it('with protection off, the victim page goes out on the wire and a received frame overwrites it', async () => {
    const { nic, driver, wire, vmem, before, victimMfn, incoming } = host(false);
    await driver.start(0);
    await driver.hostileTx([victimMfn], 10);
    await driver.hostileRx([victimMfn], 20);
    for (let i = 0; i < 9; i++) nic.receive(incoming(i), 1000 + i * 10_000);
    await driver.onEvent(200_000);
    expect(wire).toHaveLength(1);
    expect(wire[0]!.subarray(0, SECRET.length).toString()).toBe(SECRET.toString());
    expect(driver.hostile.rx).toEqual({ posted: 1, ok: 1, failed: 0 });
    expect(vmem.read(0, 0, 4096).equals(before)).toBe(false);
    expect(vmem.read(0, 0, 6).toString('hex')).toBe(MAC.replace(/:/g, ''));
  });
});
