import { describe, it, expect } from 'vitest';
import { BufferMachineMemory, GuestMemory } from '@vnetlab/memory';
import { CostTable } from '@vnetlab/cost';
import {
  Hypervisor, GrantTableWriter, GNTST_okay, GNTST_permission_denied, GNTST_bad_handle, GNTST_bad_page,
  GTF_reading, GTF_writing,
} from './index.js';

function lab() {
  const mem = new BufferMachineMemory(64);
  const costs = new CostTable();
  const hv = new Hypervisor({ mem, costs });
  const dom0 = hv.createDomain('driver', 4);
  const guest = hv.createDomain('guest', 4);
  const other = hv.createDomain('other', 4);
  return {
    mem, costs, hv, dom0, guest, other,
    gmem: new GuestMemory(mem, guest.p2m), gnt: new GrantTableWriter(mem, guest.grantFrames),
  };
}

describe('grantMap / grantUnmap', () => {
  it('maps the frontend’s ring page into the backend: the mfn is the guest’s page and both see the same bytes', () => {
    const { mem, costs, hv, dom0, guest, gmem, gnt } = lab();
    gnt.grantAccess(0, dom0.domid, 1, false);
    const m = hv.grantMap(dom0.domid, guest.domid, 0, false);
    expect(m.status).toBe(GNTST_okay);
    expect(m.mfn).toBe(guest.p2m[1]);
    expect(m.cycles).toBe(costs.cycles('hypercall') + costs.cycles('grant_map'));
    mem.write(m.mfn, 0, Buffer.from('req_prod'));
    expect(gmem.read(1, 0, 8).toString()).toBe('req_prod');
    expect(hv.frameTable.ioRefs(m.mfn)).toBe(1);
  });

  it('a mapped grant cannot be ended until it is unmapped', () => {
    const { hv, dom0, guest, gnt } = lab();
    gnt.grantAccess(3, dom0.domid, 2, false);
    const m = hv.grantMap(dom0.domid, guest.domid, 3, false);
    expect(gnt.entry(3).flags & (GTF_reading | GTF_writing)).toBe(GTF_reading | GTF_writing);
    expect(gnt.endAccess(3)).toBe(false);
    const u = hv.grantUnmap(dom0.domid, m.handle);
    expect(u.status).toBe(GNTST_okay);
    expect(hv.frameTable.ioRefs(m.mfn)).toBe(0);
    expect(gnt.endAccess(3)).toBe(true);
  });

  it('keeps the entry in use until the last of several mappings goes', () => {
    const { hv, dom0, guest, gnt } = lab();
    gnt.grantAccess(3, dom0.domid, 2, false);
    const a = hv.grantMap(dom0.domid, guest.domid, 3, true);
    const b = hv.grantMap(dom0.domid, guest.domid, 3, false);
    expect(a.handle).not.toBe(b.handle);
    hv.grantUnmap(dom0.domid, b.handle);
    expect(gnt.entry(3).flags & GTF_writing).toBe(0);
    expect(gnt.endAccess(3)).toBe(false);
    hv.grantUnmap(dom0.domid, a.handle);
    expect(gnt.endAccess(3)).toBe(true);
  });

  it('refuses a writable map of a read-only grant, and a map by a domain the grant is not for', () => {
    const { hv, dom0, guest, other, gnt } = lab();
    gnt.grantAccess(5, dom0.domid, 0, true);
    const rw = hv.grantMap(dom0.domid, guest.domid, 5, false);
    expect(rw.status).toBe(GNTST_permission_denied);
    expect(hv.violations.at(-1)?.kind).toBe('grant_readonly_write');
    const foreign = hv.grantMap(other.domid, guest.domid, 5, true);
    expect(foreign.status).toBe(GNTST_permission_denied);
    expect(foreign.handle).toBe(-1);
    expect(hv.violations.at(-1)).toMatchObject({ kind: 'grant_not_granted', domid: other.domid });
    expect(hv.frameTable.ioRefs(guest.p2m[0])).toBe(0);
    expect(hv.grantMap(dom0.domid, guest.domid, 5, true).status).toBe(GNTST_okay);
  });

  it('refuses to unmap a handle the caller does not hold', () => {
    const { hv, dom0, guest, other, gnt } = lab();
    gnt.grantAccess(0, dom0.domid, 0, false);
    const m = hv.grantMap(dom0.domid, guest.domid, 0, false);
    expect(hv.grantUnmap(other.domid, m.handle).status).toBe(GNTST_bad_handle);
    expect(hv.grantUnmap(dom0.domid, 12345).status).toBe(GNTST_bad_handle);
    expect(hv.frameTable.ioRefs(m.mfn)).toBe(1);
    expect(hv.grantUnmap(dom0.domid, m.handle).status).toBe(GNTST_okay);
    expect(hv.grantUnmap(dom0.domid, m.handle).status).toBe(GNTST_bad_handle);
  });

  it('a page that is mapped cannot be flipped away', () => {
    const { hv, dom0, guest, gnt } = lab();
    const dom0gnt = new GrantTableWriter(hv.mem, dom0.grantFrames);
    dom0gnt.grantAccess(0, guest.domid, 1, false);
    const m = hv.grantMap(guest.domid, dom0.domid, 0, false);
    gnt.grantTransfer(9, dom0.domid);
    const t = hv.grantTransfer(dom0.domid, 1, guest.domid, 9);
    expect(t.status).toBe(GNTST_bad_page);
    expect(hv.violations.at(-1)?.kind).toBe('transfer_busy');
    expect(hv.frameTable.owner(m.mfn)).toBe(dom0.domid);
  });

  it('a device-only map (no host mapping) passes the same checks, pins the frame, and costs less, its unmap too', () => {
    const { costs, hv, dom0, guest, other, gnt } = lab();
    gnt.grantAccess(4, dom0.domid, 2, true);
    const m = hv.grantMap(dom0.domid, guest.domid, 4, true, true);
    expect(m.status).toBe(GNTST_okay);
    expect(m.mfn).toBe(guest.p2m[2]);
    expect(m.cycles).toBe(costs.cycles('hypercall') + costs.cycles('grant_map_device'));
    expect(costs.cycles('grant_map_device')).toBeLessThan(costs.cycles('grant_map'));
    expect(hv.frameTable.ioRefs(m.mfn)).toBe(1);
    expect(gnt.endAccess(4)).toBe(false); // the guest cannot take it back while the NIC may read it
    // the grant is dom0's alone: another domain's device map is refused and counted
    expect(hv.grantMap(other.domid, guest.domid, 4, true, true).status).toBe(GNTST_permission_denied);
    expect(hv.violations.at(-1)).toMatchObject({ kind: 'grant_not_granted', domid: other.domid });
    const u = hv.grantUnmap(dom0.domid, m.handle);
    expect(u).toMatchObject({ status: GNTST_okay, device: true, cycles: costs.cycles('hypercall') + costs.cycles('grant_unmap_device') });
    expect(costs.cycles('grant_unmap_device')).toBeLessThan(costs.cycles('grant_unmap'));
    expect(hv.frameTable.ioRefs(m.mfn)).toBe(0);
    expect(gnt.endAccess(4)).toBe(true);
  });
});
