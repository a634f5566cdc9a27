import { describe, it, expect } from 'vitest';
import { BufferMachineMemory, GuestMemory } from '@vnetlab/memory';
import { CostTable } from '@vnetlab/cost';
import {
  Hypervisor, GrantTableWriter, DOMID_SELF, GNTST_okay, GNTST_permission_denied, GNTST_bad_copy_arg,
  GNTST_bad_gntref, GNTST_bad_page, GNTST_bad_domain, type GrantCopyOp,
} from './index.js';

function lab(protection = true) {
  const mem = new BufferMachineMemory(128);
  const costs = new CostTable();
  const hv = new Hypervisor({ mem, costs, protection });
  const dom0 = hv.createDomain('driver', 8);
  const victim = hv.createDomain('victim', 8);
  const attacker = hv.createDomain('attacker', 8);
  const g = (d: typeof dom0) => ({
    mem: new GuestMemory(mem, d.p2m),
    gnt: new GrantTableWriter(mem, d.grantFrames),
  });
  return { mem, costs, hv, dom0, victim, attacker, d0: g(dom0), v: g(victim), a: g(attacker) };
}

describe('grantCopy', () => {
  it('copies from a gref granted to the caller into the caller’s own page, and charges hypercall + op + bytes', () => {
    const { hv, costs, dom0, victim, d0, v } = lab();
    v.mem.write(2, 100, Buffer.from('packet payload'));
    v.gnt.grantAccess(10, dom0.domid, 2, true);
    const [r] = hv.grantCopy(dom0.domid, [
      { source: { gref: 10, domid: victim.domid, offset: 100 }, dest: { gfn: 5, domid: DOMID_SELF, offset: 0 }, len: 14 },
    ]);
    expect(r.status).toBe(GNTST_okay);
    expect(d0.mem.read(5, 0, 14).toString()).toBe('packet payload');
    expect(r.cycles).toBe(costs.cycles('hypercall') + costs.cycles('grant_copy_op') + costs.cycles('copy_byte', 14));
    expect(hv.violations).toHaveLength(0);
  });

  it('copies into a writable grant (the RX path)', () => {
    const { hv, dom0, victim, d0, v } = lab();
    d0.mem.write(1, 0, Buffer.from('to the guest'));
    v.gnt.grantAccess(4, dom0.domid, 6, false);
    const [r] = hv.grantCopy(dom0.domid, [
      { source: { gfn: 1, domid: dom0.domid, offset: 0 }, dest: { gref: 4, domid: victim.domid, offset: 2000 }, len: 12 },
    ]);
    expect(r.status).toBe(GNTST_okay);
    expect(v.mem.read(6, 2000, 12).toString()).toBe('to the guest');
  });

  it('a guest that writes through a gref granted to someone else is refused and the victim’s bytes are unchanged', () => {
    const { hv, dom0, victim, attacker, v, a } = lab();
    v.mem.write(3, 0, Buffer.from('victim secret'));
    v.gnt.grantAccess(1, dom0.domid, 3, false);
    a.mem.write(0, 0, Buffer.from('EVIL EVIL EVIL'));
    const before = v.mem.hash();
    const [r] = hv.grantCopy(attacker.domid, [
      { source: { gfn: 0, domid: DOMID_SELF, offset: 0 }, dest: { gref: 1, domid: victim.domid, offset: 0 }, len: 14 },
    ]);
    expect(r.status).toBe(GNTST_permission_denied);
    expect(v.mem.hash()).toBe(before);
    expect(hv.violations.at(-1)).toMatchObject({ kind: 'grant_not_granted', domid: attacker.domid });
  });

  it('a guest that reads through a gref granted to someone else is refused and learns nothing', () => {
    const { hv, dom0, victim, attacker, v, a } = lab();
    v.mem.write(3, 0, Buffer.from('victim secret'));
    v.gnt.grantAccess(1, dom0.domid, 3, true);
    const before = a.mem.hash();
    const [r] = hv.grantCopy(attacker.domid, [
      { source: { gref: 1, domid: victim.domid, offset: 0 }, dest: { gfn: 0, domid: DOMID_SELF, offset: 0 }, len: 13 },
    ]);
    expect(r.status).toBe(GNTST_permission_denied);
    expect(a.mem.hash()).toBe(before);
    expect(hv.violations.at(-1)?.kind).toBe('grant_not_granted');
  });

  it('a read-only grant can be a source but not a destination', () => {
    const { hv, dom0, victim, d0, v } = lab();
    v.mem.write(2, 0, Buffer.from('ro data'));
    v.gnt.grantAccess(9, dom0.domid, 2, true);
    d0.mem.write(0, 0, Buffer.from('overwrite'));
    const before = v.mem.hash();
    const [w] = hv.grantCopy(dom0.domid, [
      { source: { gfn: 0, domid: DOMID_SELF, offset: 0 }, dest: { gref: 9, domid: victim.domid, offset: 0 }, len: 9 },
    ]);
    expect(w.status).toBe(GNTST_permission_denied);
    expect(hv.violations.at(-1)?.kind).toBe('grant_readonly_write');
    expect(v.mem.hash()).toBe(before);
    const [rd] = hv.grantCopy(dom0.domid, [
      { source: { gref: 9, domid: victim.domid, offset: 0 }, dest: { gfn: 1, domid: DOMID_SELF, offset: 0 }, len: 7 },
    ]);
    expect(rd.status).toBe(GNTST_okay);
    expect(d0.mem.read(1, 0, 7).toString()).toBe('ro data');
  });

  it('a copy side by gfn must be the caller’s own page', () => {
    const { hv, victim, attacker, v } = lab();
    const before = v.mem.hash();
    const [r] = hv.grantCopy(attacker.domid, [
      { source: { gfn: 0, domid: DOMID_SELF, offset: 0 }, dest: { gfn: 3, domid: victim.domid, offset: 0 }, len: 100 },
    ]);
    expect(r.status).toBe(GNTST_permission_denied);
    expect(hv.violations.at(-1)?.kind).toBe('grant_foreign_page');
    expect(v.mem.hash()).toBe(before);
  });

  it('a grant entry that names a gfn the granter does not have is refused', () => {
    const { hv, dom0, victim, v } = lab();
    v.gnt.grantAccess(2, dom0.domid, 999, false);
    const [r] = hv.grantCopy(dom0.domid, [
      { source: { gref: 2, domid: victim.domid, offset: 0 }, dest: { gfn: 0, domid: DOMID_SELF, offset: 0 }, len: 1 },
    ]);
    expect(r.status).toBe(GNTST_bad_page);
  });

  it('gives each op its own status: a bad op in a batch does not stop the good ones', () => {
    const { hv, costs, dom0, victim, d0, v } = lab();
    v.mem.write(1, 0, Buffer.from('AAAA'));
    v.mem.write(2, 0, Buffer.from('BBBB'));
    v.gnt.grantAccess(1, dom0.domid, 1, true);
    v.gnt.grantAccess(2, dom0.domid, 2, true);
    const op = (gref: number, gfn: number): GrantCopyOp => ({
      source: { gref, domid: victim.domid, offset: 0 }, dest: { gfn, domid: DOMID_SELF, offset: 0 }, len: 4,
    });
    const rs = hv.grantCopy(dom0.domid, [op(1, 3), op(77, 4), op(2, 5)]);
    expect(rs.map((r) => r.status)).toEqual([GNTST_okay, GNTST_permission_denied, GNTST_okay]);
    expect(d0.mem.read(3, 0, 4).toString()).toBe('AAAA');
    expect(d0.mem.read(4, 0, 4).equals(Buffer.alloc(4))).toBe(true);
    expect(d0.mem.read(5, 0, 4).toString()).toBe('BBBB');
    const total = rs.reduce((s, r) => s + r.cycles, 0);
    expect(total).toBe(costs.cycles('hypercall') + 3 * costs.cycles('grant_copy_op') + costs.cycles('copy_byte', 8));
  });

  it('refuses bad lengths, offsets, grefs and domains without throwing', () => {
    const { hv, dom0, victim, v } = lab();
    v.gnt.grantAccess(1, dom0.domid, 1, false);
    const src = { gref: 1, domid: victim.domid, offset: 0 };
    const dst = { gfn: 0, domid: DOMID_SELF, offset: 0 };
    const rs = hv.grantCopy(dom0.domid, [
      { source: src, dest: dst, len: 0 },
      { source: src, dest: { ...dst, offset: 4000 }, len: 97 },
      { source: { ...src, gfn: 1 }, dest: dst, len: 4 },
      { source: { domid: victim.domid, offset: 0 }, dest: dst, len: 4 },
      { source: { ...src, gref: 2048 }, dest: dst, len: 4 },
      { source: { ...src, domid: 4242 }, dest: dst, len: 4 },
      { source: src, dest: dst, len: Number.NaN },
      null as unknown as GrantCopyOp,
    ]);
    expect(rs.map((r) => r.status)).toEqual([
      GNTST_bad_copy_arg, GNTST_bad_copy_arg, GNTST_bad_copy_arg, GNTST_bad_copy_arg,
      GNTST_bad_gntref, GNTST_bad_domain, GNTST_bad_copy_arg, GNTST_bad_copy_arg,
    ]);
    expect(hv.violations).toHaveLength(8);
    expect(hv.grantCopy(999, [{ source: src, dest: dst, len: 1 }])[0].status).toBe(GNTST_bad_domain);
  });

  it('with protection off the foreign copy goes through and corrupts the victim', () => {
    const { hv, dom0, victim, attacker, v, a } = lab(false);
    v.mem.write(3, 0, Buffer.from('victim secret'));
    v.gnt.grantAccess(1, dom0.domid, 3, true); // read-only, and to dom0 only
    a.mem.write(0, 0, Buffer.from('EVIL'));
    const before = v.mem.hash();
    const rs = hv.grantCopy(attacker.domid, [
      { source: { gfn: 0, domid: DOMID_SELF, offset: 0 }, dest: { gref: 1, domid: victim.domid, offset: 0 }, len: 4 },
      { source: { gfn: 5, domid: victim.domid, offset: 0 }, dest: { gfn: 1, domid: DOMID_SELF, offset: 0 }, len: 4 },
    ]);
    expect(rs.map((r) => r.status)).toEqual([GNTST_okay, GNTST_okay]);
    expect(v.mem.hash()).not.toBe(before);
    expect(v.mem.read(3, 0, 13).toString()).toBe('EVILim secret');
    // range checks stay on
    const [bad] = hv.grantCopy(attacker.domid, [
      { source: { gref: 5000, domid: victim.domid, offset: 0 }, dest: { gfn: 1, domid: DOMID_SELF, offset: 0 }, len: 4 },
    ]);
    expect(bad.status).toBe(GNTST_bad_gntref);
  });
});
