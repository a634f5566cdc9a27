import { describe, it, expect } from 'vitest';
import { BufferMachineMemory, GuestMemory } from '@vnetlab/memory';
import { CostTable } from '@vnetlab/cost';
import {
  Hypervisor, GrantTableWriter, GNTST_okay, GNTST_permission_denied, GNTST_bad_gntref, GNTST_bad_page,
  GTF_transfer_completed, INVALID_MFN,
} from './index.js';

function lab(protection = true) {
  const mem = new BufferMachineMemory(64);
  const costs = new CostTable();
  const hv = new Hypervisor({ mem, costs, protection });
  const dom0 = hv.createDomain('driver', 4);
  const guest = hv.createDomain('guest', 4);
  const other = hv.createDomain('other', 4);
  return {
    mem, costs, hv, dom0, guest, other,
    d0mem: new GuestMemory(mem, dom0.p2m),
    gmem: new GuestMemory(mem, guest.p2m), gnt: new GrantTableWriter(mem, guest.grantFrames),
  };
}

describe('page flip (grantTransfer + acceptTransfer)', () => {
  it('moves the frame’s ownership to the receiver, which then reads the bytes at its own gfn', () => {
    const { costs, hv, dom0, guest, d0mem, gmem, gnt } = lab();
    d0mem.write(2, 0, Buffer.from('received frame'));
    const mfn = dom0.p2m[2];
    gnt.grantTransfer(7, dom0.domid);
    const t = hv.grantTransfer(dom0.domid, 2, guest.domid, 7);
    expect(t.status).toBe(GNTST_okay);
    expect(t.cycles).toBe(costs.cycles('hypercall') + costs.cycles('page_flip'));
    expect(hv.frameTable.owner(mfn)).toBe(guest.domid);
    expect(hv.domain(dom0.domid)!.p2m[2]).toBe(INVALID_MFN);
    expect(gnt.entry(7).flags & GTF_transfer_completed).toBeTruthy();
    expect(gnt.transferredFrame(7)).toBe(mfn);

    // The guest gives up the page it posted and puts the new frame in its place.
    const oldMfn = guest.p2m[3];
    const a = hv.acceptTransfer(guest.domid, 7, 3);
    expect(a).toMatchObject({ status: GNTST_okay, mfn });
    expect(hv.domain(guest.domid)!.p2m[3]).toBe(mfn);
    expect(hv.frameTable.owner(oldMfn)).toBe(-1);
    gmem.setMfn(3, a.mfn);
    expect(gmem.read(3, 0, 14).toString()).toBe('received frame');
    expect(gnt.endAccess(7)).toBe(true);
  });

  it('the sender’s emptied slot is refilled by populatePhysmap with a fresh zeroed frame', () => {
    const { hv, dom0, guest, d0mem, gnt } = lab();
    d0mem.write(1, 0, Buffer.from('old'));
    gnt.grantTransfer(0, dom0.domid);
    hv.grantTransfer(dom0.domid, 1, guest.domid, 0);
    const p = hv.populatePhysmap(dom0.domid, 1);
    expect(p.status).toBe(GNTST_okay);
    expect(hv.frameTable.owner(p.mfn)).toBe(dom0.domid);
    d0mem.setMfn(1, p.mfn);
    expect(d0mem.read(1, 0, 3).equals(Buffer.alloc(3))).toBe(true);
    // populating a slot that has a frame is refused
    expect(hv.populatePhysmap(dom0.domid, 1).status).toBe(GNTST_bad_page);
  });

  it('refuses a transfer into an entry not accepting from the caller, or already completed', () => {
    const { hv, dom0, guest, other, gnt } = lab();
    gnt.grantTransfer(1, dom0.domid);
    const t = hv.grantTransfer(other.domid, 0, guest.domid, 1);
    expect(t.status).toBe(GNTST_permission_denied);
    expect(hv.violations.at(-1)?.kind).toBe('transfer_not_granted');
    expect(hv.frameTable.owner(other.p2m[0])).toBe(other.domid);
    gnt.grantAccess(2, dom0.domid, 0, false); // an access grant is not a transfer grant
    expect(hv.grantTransfer(dom0.domid, 0, guest.domid, 2).status).toBe(GNTST_permission_denied);
    expect(hv.grantTransfer(dom0.domid, 0, guest.domid, 1).status).toBe(GNTST_okay);
    expect(hv.grantTransfer(dom0.domid, 1, guest.domid, 1).status).toBe(GNTST_bad_gntref);
    expect(hv.violations.at(-1)?.kind).toBe('transfer_ref_used');
    expect(hv.domain(dom0.domid)!.p2m[1]).toBe(dom0.p2m[1]);
  });

  it('refuses to transfer a page the caller no longer has', () => {
    const { hv, dom0, guest, gnt } = lab();
    gnt.grantTransfer(1, dom0.domid);
    gnt.grantTransfer(2, dom0.domid);
    expect(hv.grantTransfer(dom0.domid, 0, guest.domid, 1).status).toBe(GNTST_okay);
    expect(hv.grantTransfer(dom0.domid, 0, guest.domid, 2).status).toBe(GNTST_bad_page);
    expect(hv.grantTransfer(dom0.domid, 99, guest.domid, 2).status).toBe(GNTST_bad_page);
  });

  it('refuses to accept a frame the guest forged into its entry', () => {
    const { mem, hv, dom0, guest, gnt } = lab();
    gnt.grantTransfer(4, dom0.domid);
    // write a completed entry naming dom0's frame, as a hostile guest could
    const e = Buffer.alloc(8);
    e.writeUInt16LE(2 | GTF_transfer_completed, 0);
    e.writeUInt32LE(dom0.p2m[0], 4);
    const loc = guest.grantFrames[0];
    mem.write(loc, 4 * 8, e);
    const a = hv.acceptTransfer(guest.domid, 4, 0);
    expect(a.status).toBe(GNTST_permission_denied);
    expect(hv.violations.at(-1)?.kind).toBe('accept_not_transferred');
    expect(hv.domain(guest.domid)!.p2m[0]).toBe(guest.p2m[0]);
    // and an entry that never completed
    gnt.grantTransfer(5, dom0.domid);
    expect(hv.acceptTransfer(guest.domid, 5, 0).status).toBe(GNTST_bad_gntref);
  });

  it('decreaseReservation gives a page back and leaves the slot empty', () => {
    const { hv, guest } = lab();
    const mfn = guest.p2m[2];
    expect(hv.decreaseReservation(guest.domid, 2).status).toBe(GNTST_okay);
    expect(hv.frameTable.owner(mfn)).toBe(-1);
    expect(hv.domain(guest.domid)!.p2m[2]).toBe(INVALID_MFN);
    expect(hv.decreaseReservation(guest.domid, 2).status).toBe(GNTST_bad_page);
  });
});
