import { describe, it, expect } from 'vitest';
import { BufferMachineMemory, GuestMemory } from '@vnetlab/memory';
import { CostTable } from '@vnetlab/cost';
import {
  Hypervisor, GrantTableWriter, DOMID_XEN, FRAME_FREE, GNTST_okay, IOMMU_GFN_LIMIT, IOMMU_PTE_P, IOMMU_PTE_R,
  IOMMU_PTE_W, XEN_EINVAL, XEN_EPERM, XEN_ESRCH, XEN_OK, decodeIommuPte, encodeIommuPte,
} from './index.js';

function lab(protection = true) {
  const mem = new BufferMachineMemory(96);
  const costs = new CostTable();
  const hv = new Hypervisor({ mem, costs, protection });
  const dom0 = hv.createDomain('driver', 6);
  const guest = hv.createDomain('guest', 6);
  const victim = hv.createDomain('victim', 6);
  return { mem, costs, hv, dom0, guest, victim };
}

describe('IOMMU page-table entries', () => {
  it('encode the mfn in bits 12 and up and P/R/W in bits 0-2, and decode back', () => {
    const b = encodeIommuPte(0x12345, IOMMU_PTE_P | IOMMU_PTE_W);
    expect(b.readBigUInt64LE(0)).toBe(0x12345n * 4096n + 5n);
    expect(decodeIommuPte(b)).toEqual({ present: true, read: false, write: true, mfn: 0x12345 });
    expect(decodeIommuPte(Buffer.alloc(8)).present).toBe(false);
  });
});

describe('Iommu (hypervisor side)', () => {
  it('keeps a context’s tables in zeroed frames the hypervisor owns, and writes the leaf entry in machine memory', () => {
    const { mem, hv, guest } = lab();
    const { ctx, rootMfn } = hv.iommu.createContext(guest.domid);
    expect(hv.frameTable.owner(rootMfn)).toBe(DOMID_XEN);
    expect(hv.iommu.map(ctx, 3, guest.p2m[3]!, 'r').status).toBe(XEN_OK);
    const root = decodeIommuPte(mem.read(rootMfn, 0, 8));
    expect(root.present).toBe(true);
    expect(hv.frameTable.owner(root.mfn)).toBe(DOMID_XEN);
    const leaf = mem.read(root.mfn, 3 * 8, 8).readBigUInt64LE(0);
    expect(leaf).toBe(BigInt(guest.p2m[3]!) * 4096n + BigInt(IOMMU_PTE_P | IOMMU_PTE_R));
    expect(hv.iommu.translate(ctx, 3)).toEqual({ mfn: guest.p2m[3], perms: 'r' });
    expect(hv.iommu.translate(ctx, 4)).toBeUndefined();
    expect(hv.iommu.context(ctx)?.tableFrames).toEqual([rootMfn, root.mfn]);
  });

  it('refuses to map a page the context’s domain does not own, records iommu_foreign_page, and writes nothing', () => {
    const { mem, hv, guest, victim } = lab();
    const { ctx, rootMfn } = hv.iommu.createContext(guest.domid);
    const before = mem.hashFrame(rootMfn);
    const r = hv.iommu.map(ctx, 0, victim.p2m[2]!, 'rw');
    expect(r.status).toBe(XEN_EPERM);
    expect(hv.violations.at(-1)).toMatchObject({ kind: 'iommu_foreign_page', domid: guest.domid });
    expect(hv.violationCounts.get('iommu_foreign_page')).toBe(1);
    expect(mem.hashFrame(rootMfn)).toBe(before);
    expect(hv.iommu.translate(ctx, 0)).toBeUndefined();
    // Nor a frame of Xen's (the guest's own grant table).
    expect(hv.iommu.map(ctx, 1, guest.grantFrames[0]!, 'r').status).toBe(XEN_EPERM);
  });

  it('with protection off the foreign mapping goes through (what protection prevents)', () => {
    const { hv, guest, victim } = lab(false);
    const { ctx } = hv.iommu.createContext(guest.domid);
    expect(hv.iommu.map(ctx, 0, victim.p2m[2]!, 'rw').status).toBe(XEN_OK);
    expect(hv.iommu.translate(ctx, 0)?.mfn).toBe(victim.p2m[2]);
  });

  it('refuses bad arguments and unknown contexts with a status, never a throw', () => {
    const { hv, guest } = lab();
    const { ctx } = hv.iommu.createContext(guest.domid);
    expect(hv.iommu.map(ctx, IOMMU_GFN_LIMIT, guest.p2m[0]!, 'rw').status).toBe(XEN_EINVAL);
    expect(hv.iommu.map(ctx, 0, guest.p2m[0]!, 'x' as never).status).toBe(XEN_EINVAL);
    expect(hv.iommu.map(ctx, 0, 1e9, 'r').status).toBe(XEN_EINVAL);
    expect(hv.iommu.map(99, 0, guest.p2m[0]!, 'r').status).toBe(XEN_ESRCH);
    expect(hv.violationCounts.get('iommu_bad_argument')).toBe(3);
    expect(hv.violationCounts.get('iommu_bad_context')).toBe(1);
  });

  it('mapDomain maps exactly the domain’s own pages at their gfns, read-write, and nothing else', () => {
    const { hv, costs, guest, victim } = lab();
    const { ctx } = hv.iommu.createContext(guest.domid);
    const r = hv.iommu.mapDomain(ctx);
    expect(r).toEqual({ status: XEN_OK, mapped: guest.p2m.length, cycles: costs.cycles('iommu_map', guest.p2m.length) });
    expect(hv.iommu.mappings(ctx)).toEqual(guest.p2m.map((mfn, gfn) => ({ gfn, mfn, perms: 'rw' })));
    for (let gfn = 0; gfn < guest.p2m.length; gfn++) expect(hv.iommu.translate(ctx, gfn)).toEqual({ mfn: guest.p2m[gfn], perms: 'rw' });
    expect(hv.iommu.translate(ctx, guest.p2m.length)).toBeUndefined();
    const reachable = new Set(hv.iommu.mappings(ctx).map((m) => m.mfn));
    for (const mfn of [...victim.p2m, ...guest.grantFrames]) expect(reachable.has(mfn)).toBe(false);
    // Another domain's pages cannot be mapped wholesale either.
    expect(hv.iommu.mapDomain(ctx, victim.domid).status).toBe(XEN_EPERM);
  });

  it('a page flipped away loses its mapping, with an IOTLB invalidation queued for the device', () => {
    const { hv, dom0, guest } = lab();
    const { ctx } = hv.iommu.createContext(dom0.domid);
    hv.iommu.mapDomain(ctx);
    hv.iommu.takeInvalidations();
    const mfn = dom0.p2m[2]!;
    new GrantTableWriter(hv.mem, guest.grantFrames).grantTransfer(5, dom0.domid);
    expect(hv.grantTransfer(dom0.domid, 2, guest.domid, 5).status).toBe(GNTST_okay);
    expect(hv.frameTable.owner(mfn)).toBe(guest.domid);
    expect(hv.iommu.translate(ctx, 2)).toBeUndefined();
    expect(hv.iommu.mappings(ctx).some((m) => m.mfn === mfn)).toBe(false);
    expect(hv.iommu.takeInvalidations()).toEqual([{ ctx, gfn: 2 }]);
    // A static (mapDomain) context follows the domain: the replacement page is mapped.
    const p = hv.populatePhysmap(dom0.domid, 2);
    expect(hv.iommu.translate(ctx, 2)).toEqual({ mfn: p.mfn, perms: 'rw' });
  });

  it('a page given back to Xen loses its mapping; unmap clears the entry and queues an invalidation', () => {
    const { hv, guest } = lab();
    const { ctx } = hv.iommu.createContext(guest.domid);
    hv.iommu.map(ctx, 1, guest.p2m[1]!, 'rw');
    hv.iommu.map(ctx, 4, guest.p2m[4]!, 'rw');
    hv.iommu.takeInvalidations();
    expect(hv.decreaseReservation(guest.domid, 1).status).toBe(GNTST_okay);
    expect(hv.iommu.translate(ctx, 1)).toBeUndefined();
    expect(hv.iommu.unmap(ctx, 4).status).toBe(XEN_OK);
    expect(hv.iommu.translate(ctx, 4)).toBeUndefined();
    expect(hv.iommu.takeInvalidations()).toEqual([{ ctx, gfn: 1 }, { ctx, gfn: 4 }]);
  });

  it('the map hypercall translates the caller’s gfn and charges hypercall + iommu_map; strangers are refused', () => {
    const { hv, costs, guest, victim } = lab();
    const { ctx } = hv.iommu.createContext(guest.domid);
    const r = hv.iommuMap(guest.domid, ctx, 5, 'w');
    expect(r).toEqual({ status: XEN_OK, cycles: costs.cycles('hypercall') + costs.cycles('iommu_map') });
    expect(hv.iommu.translate(ctx, 5)).toEqual({ mfn: guest.p2m[5], perms: 'w' });
    expect(hv.iommuMap(victim.domid, ctx, 0, 'rw').status).toBe(XEN_ESRCH);
    const u = hv.iommuUnmap(guest.domid, ctx, 5);
    expect(u).toEqual({ status: XEN_OK, cycles: costs.cycles('hypercall') + costs.cycles('iommu_unmap') });
    expect(hv.iommu.translate(ctx, 5)).toBeUndefined();
  });

  it('destroying a context frees its table frames; destroying the domain destroys its contexts', () => {
    const { hv, guest } = lab();
    const free0 = hv.frameTable.freeFrames;
    const a = hv.iommu.createContext(guest.domid);
    hv.iommu.mapDomain(a.ctx);
    const frames = hv.iommu.context(a.ctx)!.tableFrames;
    expect(hv.frameTable.freeFrames).toBe(free0 - frames.length);
    hv.iommu.destroyContext(a.ctx);
    for (const mfn of frames) expect(hv.frameTable.owner(mfn)).toBe(FRAME_FREE);
    expect(hv.frameTable.freeFrames).toBe(free0);
    const b = hv.iommu.createContext(guest.domid);
    hv.destroyDomain(guest.domid);
    expect(hv.iommu.context(b.ctx)).toBeUndefined();
    expect(() => hv.iommu.createContext(guest.domid)).toThrow(/no domain/);
  });

  it('reads guest bytes through its own mapping exactly where its GuestMemory put them', () => {
    const { mem, hv, guest } = lab();
    const { ctx } = hv.iommu.createContext(guest.domid);
    hv.iommu.mapDomain(ctx);
    new GuestMemory(mem, guest.p2m).write(3, 10, Buffer.from('dma me'));
    const t = hv.iommu.translate(ctx, 3)!;
    expect(mem.read(t.mfn, 10, 6).toString()).toBe('dma me');
  });
});
