import { CostTable } from '@vnetlab/cost';
import { GrantTableWriter, Hypervisor } from '@vnetlab/hypervisor';
import { BufferMachineMemory, GuestMemory } from '@vnetlab/memory';
import { describe, expect, it } from 'vitest';
import { DmaFault, IommuFault, iommuDma, machineMemoryDma } from './index.js';

const PAGE = 4096;

/** A host whose hypervisor gave `guest` a device behind the IOMMU (context `ctx`). */
function lab(opts: { iotlbSize?: number } = {}) {
  const mem = new BufferMachineMemory(96);
  const costs = new CostTable();
  const hv = new Hypervisor({ mem, costs });
  const dom0 = hv.createDomain('driver', 4);
  const guest = hv.createDomain('guest', 8);
  const victim = hv.createDomain('victim', 8);
  const { ctx, rootMfn } = hv.iommu.createContext(guest.domid);
  const dma = iommuDma(mem, rootMfn, { walkNs: costs.deviceNs('iommu_walk'), iotlbSize: opts.iotlbSize });
  /** What the service does with the hypervisor's queued IOTLB invalidations. */
  const deliverInvalidations = () => {
    for (const inv of hv.iommu.takeInvalidations()) if (inv.ctx === ctx) dma.invalidate(inv.gfn);
  };
  return { mem, costs, hv, dom0, guest, victim, ctx, rootMfn, dma, deliverInvalidations, gm: new GuestMemory(mem, guest.p2m) };
}

describe('iommuDma', () => {
  it('a DMA inside the guest’s mapped pages lands in the machine frames its p2m names, across a page boundary', () => {
    const { mem, hv, guest, ctx, dma, gm } = lab();
    hv.iommu.mapDomain(ctx);
    const data = Buffer.from('a frame that crosses from one guest page into the next');
    dma.write(2 * PAGE + PAGE - 10, data);
    expect(mem.read(guest.p2m[2]!, PAGE - 10, 10)).toEqual(data.subarray(0, 10));
    expect(mem.read(guest.p2m[3]!, 0, data.length - 10)).toEqual(data.subarray(10));
    expect(gm.read(2, PAGE - 10, 10).toString() + gm.read(3, 0, data.length - 10).toString()).toBe(data.toString());
    expect(dma.read(2 * PAGE + PAGE - 10, data.length)).toEqual(data);
  });

  it('translates through the table, not by identity: an IOVA reaches whatever frame its entry names', () => {
    const { mem, hv, guest, ctx, dma } = lab();
    expect(hv.iommu.map(ctx, 7, guest.p2m[1]!, 'rw').status).toBe(0);
    dma.write(7 * PAGE + 8, Buffer.from('remapped'));
    expect(mem.read(guest.p2m[1]!, 8, 8).toString()).toBe('remapped');
  });

  it('a DMA to a page of another domain is refused and the victim’s bytes are unchanged', () => {
    const { mem, hv, victim, ctx, dma } = lab();
    hv.iommu.mapDomain(ctx);
    const target = victim.p2m[2]!;
    new GuestMemory(mem, victim.p2m).write(2, 0, Buffer.from('victim secret'));
    const before = mem.hashFrame(target);
    // The classic attack: program the device with the victim's machine address.
    expect(() => dma.write(target * PAGE, Buffer.alloc(64, 0xee))).toThrow(IommuFault);
    expect(() => dma.read(target * PAGE, 13)).toThrow(/iommu_fault/);
    // Nor can the hypervisor be talked into mapping it.
    expect(hv.iommu.map(ctx, 9, target, 'rw').status).toBeLessThan(0);
    expect(() => dma.write(9 * PAGE, Buffer.alloc(64, 0xee))).toThrow(DmaFault);
    expect(mem.hashFrame(target)).toBe(before);
    expect(dma.stats.faults).toBe(3);
    // Without an IOMMU the same DMA goes straight through: what the IOMMU prevents.
    machineMemoryDma(mem).write(target * PAGE, Buffer.alloc(64, 0xee));
    expect(mem.hashFrame(target)).not.toBe(before);
  });

  it('with the checks off (protection off), an unmapped IOVA goes to the bus as a machine address: the victim page is read and written; mapped IOVAs still translate', () => {
    const { mem, hv, guest, victim, ctx, rootMfn } = lab();
    hv.iommu.mapDomain(ctx);
    let off = false;
    const dma = iommuDma(mem, rootMfn, { unchecked: () => off });
    const target = victim.p2m[2]!;
    new GuestMemory(mem, victim.p2m).write(2, 0, Buffer.from('victim secret'));
    const before = mem.hashFrame(target);
    expect(() => dma.write(target * PAGE, Buffer.alloc(64, 0xee))).toThrow(IommuFault);
    off = true;
    expect(dma.read(target * PAGE, 13).toString()).toBe('victim secret');
    dma.write(target * PAGE, Buffer.alloc(64, 0xee));
    expect(mem.hashFrame(target)).not.toBe(before);
    dma.write(1 * PAGE, Buffer.from('own page'));
    expect(mem.read(guest.p2m[1]!, 0, 8).toString()).toBe('own page');
    expect(dma.stats).toMatchObject({ faults: 1, unchecked: 2 });
  });

  it('a write to a read-only mapping is refused and changes nothing; reading it works', () => {
    const { mem, hv, guest, ctx, dma, gm } = lab();
    hv.iommu.map(ctx, 4, guest.p2m[4]!, 'r');
    gm.write(4, 0, Buffer.from('to transmit'));
    const before = mem.hashFrame(guest.p2m[4]!);
    let err: unknown;
    try {
      dma.write(4 * PAGE, Buffer.from('overwrite'));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(IommuFault);
    expect((err as IommuFault).kind).toBe('write_denied');
    expect(mem.hashFrame(guest.p2m[4]!)).toBe(before);
    expect(dma.read(4 * PAGE, 11).toString()).toBe('to transmit');
  });

  it('a DMA that runs from a mapped into an unmapped page is refused whole: no byte is written', () => {
    const { mem, hv, guest, ctx, dma } = lab();
    hv.iommu.map(ctx, 0, guest.p2m[0]!, 'rw');
    const before = mem.hashFrame(guest.p2m[0]!);
    expect(() => dma.write(PAGE - 4, Buffer.alloc(8, 1))).toThrow(IommuFault);
    expect(mem.hashFrame(guest.p2m[0]!)).toBe(before);
  });

  it('after unmap the device may still hit its stale IOTLB entry; once the invalidation is delivered, access is refused', () => {
    const { hv, ctx, dma, deliverInvalidations } = lab();
    hv.iommu.mapDomain(ctx);
    deliverInvalidations();
    dma.write(5 * PAGE, Buffer.from('x'));
    expect(hv.iommu.unmap(ctx, 5).status).toBe(0);
    // Real hardware behaves so too: the translation is cached until invalidated.
    expect(() => dma.read(5 * PAGE, 1)).not.toThrow();
    deliverInvalidations();
    expect(() => dma.read(5 * PAGE, 1)).toThrow(/not mapped/);
    expect(() => dma.write(5 * PAGE, Buffer.from('y'))).toThrow(IommuFault);
    // Other pages are unaffected.
    expect(dma.read(6 * PAGE, 1)).toHaveLength(1);
  });

  it('the IOTLB hits after the first access to a page, and each miss costs one walk of device time', () => {
    const { costs, hv, ctx, dma } = lab();
    hv.iommu.mapDomain(ctx);
    dma.read(3 * PAGE, 100);
    expect(dma.stats).toMatchObject({ hits: 0, misses: 1, walks: 1 });
    dma.read(3 * PAGE + 200, 100);
    dma.write(3 * PAGE + 400, Buffer.alloc(10));
    expect(dma.stats).toMatchObject({ hits: 2, misses: 1, walks: 1 });
    dma.read(4 * PAGE, 1);
    expect(dma.stats.misses).toBe(2);
    expect(dma.stats.walkNs).toBe(2 * costs.deviceNs('iommu_walk'));
    expect(dma.takeWalkNs()).toBe(2 * costs.deviceNs('iommu_walk'));
    expect(dma.takeWalkNs()).toBe(0);
  });

  it('the IOTLB evicts the least recently used entry when full', () => {
    const { hv, ctx, dma } = lab({ iotlbSize: 2 });
    hv.iommu.mapDomain(ctx);
    dma.read(0, 1); // miss
    dma.read(PAGE, 1); // miss
    dma.read(0, 1); // hit: page 1 is now the LRU one
    dma.read(2 * PAGE, 1); // miss, evicts page 1
    dma.read(0, 1); // hit
    dma.read(PAGE, 1); // miss again
    expect(dma.stats).toMatchObject({ hits: 2, misses: 4 });
  });

  it('mapDomain lets the device reach exactly the guest’s pages: each one, and nothing past them', () => {
    const { hv, guest, ctx, dma } = lab();
    hv.iommu.mapDomain(ctx);
    for (let gfn = 0; gfn < guest.p2m.length; gfn++) {
      dma.write(gfn * PAGE, Buffer.from([gfn]));
      expect(dma.read(gfn * PAGE, 1)[0]).toBe(gfn);
    }
    expect(() => dma.read(guest.p2m.length * PAGE, 1)).toThrow(IommuFault);
    expect(() => dma.read(2 ** 18 * PAGE, 1)).toThrow(/beyond/);
  });

  it('a page flipped away loses its mapping: the device can no longer reach it in its new owner', () => {
    const { mem, hv, dom0, guest, ctx, dma, deliverInvalidations } = lab();
    hv.iommu.mapDomain(ctx);
    dma.read(2 * PAGE, 1); // cached in the IOTLB
    const mfn = guest.p2m[2]!;
    new GrantTableWriter(mem, dom0.grantFrames).grantTransfer(3, guest.domid);
    expect(hv.grantTransfer(guest.domid, 2, dom0.domid, 3).status).toBe(0);
    deliverInvalidations();
    mem.write(mfn, 0, Buffer.from('now dom0 data'));
    const before = mem.hashFrame(mfn);
    expect(() => dma.write(2 * PAGE, Buffer.alloc(32, 0xaa))).toThrow(IommuFault);
    expect(mem.hashFrame(mfn)).toBe(before);
  });
});
