// The hypervisor's side of the hostile-guest demonstrations: a grant of a frame the granter
// does not own, a notification storm, and a page given away while a DMA is aimed at it — each
// refused and counted with protection on, and doing its harm with protection off.
import { describe, expect, it } from 'vitest';
import { CostTable } from '@vnetlab/cost';
import { BufferMachineMemory, GuestMemory, type MachineMemory } from '@vnetlab/memory';
import {
  CDNA_DESC_DD, CDNA_DESC_SIZE, EVTCHN_BURST, EVTCHN_WINDOW_NS, GNTST_bad_page, GNTST_okay, GrantTableWriter, Hypervisor,
  NotificationLimit, XEN_OK, INVALID_MFN,
} from './index.js';

function lab(protection = true) {
  const mem = new BufferMachineMemory(128);
  const hv = new Hypervisor({ mem, costs: new CostTable(), protection });
  const dom0 = hv.createDomain('dom0', 4);
  const attacker = hv.createDomain('attacker', 8);
  const victim = hv.createDomain('victim', 8);
  const vmem = new GuestMemory(mem, victim.p2m);
  vmem.write(0, 0, Buffer.from('the victim kernel page'));
  return { mem, hv, dom0, attacker, victim, vmem, grants: new GrantTableWriter(mem, attacker.grantFrames) };
}

const count = (hv: Hypervisor, kind: string) => hv.violationCounts.get(kind as never) ?? 0;

describe('a guest that grants a frame it does not own', () => {
  it('is refused by the grant check with protection on: no copy out, no copy in, no map, and the victim page is unchanged', () => {
    const { hv, dom0, attacker, victim, vmem, grants } = lab();
    // its p2m is its own to write (as a PV guest's is): gfn 5 now names the victim's frame
    expect(hv.p2mWrite(attacker.domid, 5, victim.p2m[0]!).status).toBe(GNTST_okay);
    grants.grantAccess(9, dom0.domid, 5, false);
    const out = hv.grantCopy(dom0.domid, [{ source: { gref: 9, domid: attacker.domid, offset: 0 }, dest: { gfn: 1, domid: dom0.domid, offset: 0 }, len: 22 }]);
    const into = hv.grantCopy(dom0.domid, [{ source: { gfn: 1, domid: dom0.domid, offset: 0 }, dest: { gref: 9, domid: attacker.domid, offset: 0 }, len: 22 }]);
    const map = hv.grantMap(dom0.domid, attacker.domid, 9, true);
    expect([out[0]!.status, into[0]!.status, map.status]).toEqual([GNTST_bad_page, GNTST_bad_page, GNTST_bad_page]);
    expect(count(hv, 'grant_foreign_page')).toBe(3);
    // the fault is the granter's, not the backend's that used the grant
    expect(hv.violations.filter((v) => v.kind === 'grant_foreign_page').every((v) => v.domid === attacker.domid)).toBe(true);
    expect(vmem.read(0, 0, 22).toString()).toBe('the victim kernel page');
    expect(hv.frameTable.ioRefs(victim.p2m[0]!)).toBe(0);
  });

  it('with protection off, the backend copies the victim page out and writes into it', () => {
    const { mem, hv, dom0, attacker, victim, vmem, grants } = lab(false);
    hv.p2mWrite(attacker.domid, 5, victim.p2m[0]!);
    grants.grantAccess(9, dom0.domid, 5, false);
    hv.grantCopy(dom0.domid, [{ source: { gref: 9, domid: attacker.domid, offset: 0 }, dest: { gfn: 1, domid: dom0.domid, offset: 0 }, len: 22 }]);
    expect(new GuestMemory(mem, dom0.p2m).read(1, 0, 22).toString()).toBe('the victim kernel page');
    new GuestMemory(mem, dom0.p2m).write(2, 0, Buffer.from('incoming frame bytes!!'));
    hv.grantCopy(dom0.domid, [{ source: { gfn: 2, domid: dom0.domid, offset: 0 }, dest: { gref: 9, domid: attacker.domid, offset: 0 }, len: 22 }]);
    expect(vmem.read(0, 0, 22).toString()).toBe('incoming frame bytes!!');
    expect(hv.violationTotal).toBe(0);
  });

  it('the p2m write itself checks only that the page and the frame exist', () => {
    const { hv, attacker } = lab();
    expect(hv.p2mWrite(attacker.domid, 8, attacker.p2m[0]!).status).toBe(GNTST_bad_page);
    expect(hv.p2mWrite(attacker.domid, 0, 128).status).toBe(GNTST_bad_page);
    expect(count(hv, 'bad_page')).toBe(2);
  });

  it('frames a domain owns outside its p2m are listed as its memory', () => {
    const { hv, attacker, victim } = lab();
    const own = attacker.p2m[5]!;
    hv.p2mWrite(attacker.domid, 5, victim.p2m[0]!);
    expect(hv.unmappedFrames(attacker.domid)).toEqual([own]);
    expect(hv.unmappedFrames(victim.domid)).toEqual([]);
  });
});

describe('an event-channel notification storm', () => {
  function connected(protection: boolean) {
    const l = lab(protection);
    const unbound = l.hv.evtchnAllocUnbound(l.attacker.domid, l.dom0.domid);
    const back = l.hv.evtchnBindInterdomain(l.dom0.domid, l.attacker.domid, unbound.port);
    return { ...l, port: unbound.port, backPort: back.port };
  }

  it('with protection on, sends beyond the burst in one window become one upcall at the window end, each counted', () => {
    const { hv, dom0, attacker, port, backPort } = connected(true);
    const t0 = 7 * EVTCHN_WINDOW_NS;
    const rs = Array.from({ length: 100 }, (_, i) => hv.evtchnSend(attacker.domid, port, t0 + i * 100));
    expect(rs.every((r) => r.status === 0)).toBe(true);
    const delivered = rs.filter((r) => r.target);
    expect(delivered).toHaveLength(EVTCHN_BURST + 1);
    expect(delivered.slice(0, EVTCHN_BURST).every((r) => r.target!.atNs === undefined && r.target!.domid === dom0.domid && r.target!.port === backPort)).toBe(true);
    expect(delivered[EVTCHN_BURST]!.target!.atNs).toBe(t0 + EVTCHN_WINDOW_NS);
    expect(count(hv, 'evtchn_storm')).toBe(100 - EVTCHN_BURST);
    // the next window starts afresh
    expect(hv.evtchnSend(attacker.domid, port, t0 + EVTCHN_WINDOW_NS).target?.atNs).toBeUndefined();
  });

  it('with protection off, every send is an upcall', () => {
    const { hv, attacker, port } = connected(false);
    const rs = Array.from({ length: 100 }, (_, i) => hv.evtchnSend(attacker.domid, port, i * 100));
    expect(rs.filter((r) => r.target && r.target.atNs === undefined)).toHaveLength(100);
    expect(hv.violationTotal).toBe(0);
  });

  it('the limit is per port: another port of the same domain is not slowed by a storm on the first', () => {
    const limit = new NotificationLimit(1000, 2);
    expect([1, 2, 3, 4].map((i) => limit.admit(1, 5, i).action)).toEqual(['deliver', 'deliver', 'defer', 'coalesce']);
    expect(limit.admit(1, 6, 5).action).toBe('deliver');
    expect(limit.admit(2, 5, 5).action).toBe('deliver');
    limit.forget(1, 5);
    expect(limit.admit(1, 5, 6).action).toBe('deliver');
  });
});

describe('a page given away while a DMA is aimed at it', () => {
  function enqueued(protection: boolean) {
    const l = lab(protection);
    const qs = l.hv.cdnaAttach(l.attacker.domid, { qs: 1, size: 8 });
    const mfn = l.attacker.p2m[6]!;
    expect(l.hv.cdnaEnqueue(l.attacker.domid, 1, 'rx', [{ gfn: 6, offset: 0, len: 2048 }]).accepted).toBe(1);
    return { ...l, qs, mfn };
  }
  /** The NIC's DMA of a received frame into the buffer, and its writeback. */
  function nicReceives(mem: MachineMemory, rxRingMfn: number, mfn: number, bytes: Buffer) {
    mem.write(mfn, 0, bytes);
    const wb = Buffer.alloc(CDNA_DESC_SIZE);
    wb.writeDoubleLE(10, 0);
    wb.writeUInt16LE(bytes.length, 8);
    wb.writeUInt16LE(CDNA_DESC_DD, 12);
    mem.write(rxRingMfn, 0, wb);
  }

  it('with protection on, the transfer is refused while the buffer is enqueued, and allowed once it completed', () => {
    const { mem, hv, attacker, victim, qs, mfn } = enqueued(true);
    expect(hv.grantTransfer(attacker.domid, 6, victim.domid, 7).status).toBe(GNTST_bad_page);
    expect(count(hv, 'transfer_busy')).toBe(1);
    expect(hv.frameTable.owner(mfn)).toBe(attacker.domid);
    nicReceives(mem, qs.rxRingMfn, mfn, Buffer.from('a frame for the attacker'));
    expect(hv.cdnaComplete(attacker.domid, 1, 'rx', 1).status).toBe(XEN_OK);
    // no I/O in flight: now only the receiver's consent is missing
    hv.grantTransfer(attacker.domid, 6, victim.domid, 7);
    expect(count(hv, 'transfer_not_granted')).toBe(1);
  });

  it('with protection off, the page becomes the victim\'s and the NIC\'s DMA lands in it', () => {
    const { mem, hv, attacker, victim, qs, mfn } = enqueued(false);
    expect(hv.grantTransfer(attacker.domid, 6, victim.domid, 7).status).toBe(GNTST_okay);
    expect(hv.frameTable.owner(mfn)).toBe(victim.domid);
    expect(hv.unmappedFrames(victim.domid)).toEqual([mfn]);
    nicReceives(mem, qs.rxRingMfn, mfn, Buffer.from('bytes the attacker chose'));
    expect(mem.read(mfn, 0, 24).toString()).toBe('bytes the attacker chose');
    // the buffer completes as usual: its reference goes, the page stays the victim's
    expect(hv.cdnaComplete(attacker.domid, 1, 'rx', 1).status).toBe(XEN_OK);
    expect(hv.frameTable.ioRefs(mfn)).toBe(0);
    expect(hv.frameTable.owner(mfn)).toBe(victim.domid);
  });
});

describe('a guest that flips (grant-transfers) a page it does not own', () => {
  // the attacker's p2m names the victim's kernel page at gfn 5, and dom0 accepts a transfer from it
  function flip(protection: boolean) {
    const l = lab(protection);
    const victimMfn = l.victim.p2m[0]!;
    expect(l.hv.p2mWrite(l.attacker.domid, 5, victimMfn).status).toBe(GNTST_okay);
    new GrantTableWriter(l.mem, l.dom0.grantFrames).grantTransfer(7, l.attacker.domid);
    const owners = (d: { domid: number }) => l.hv.frameTable.ownedBy(d.domid);
    const before = { victim: owners(l.victim), attacker: owners(l.attacker), dom0: owners(l.dom0) };
    const status = l.hv.grantTransfer(l.attacker.domid, 5, l.dom0.domid, 7).status;
    return { ...l, victimMfn, before, status, owners };
  }

  it('is refused with protection on (transfer_not_owner, counted against the attacker): every frame keeps its owner and the victim its page', () => {
    const { hv, dom0, attacker, victim, vmem, victimMfn, before, status, owners } = flip(true);
    expect(status).toBe(GNTST_bad_page);
    expect(count(hv, 'transfer_not_owner')).toBe(1);
    expect(hv.violations.at(-1)).toMatchObject({ kind: 'transfer_not_owner', domid: attacker.domid });
    expect({ victim: owners(victim), attacker: owners(attacker), dom0: owners(dom0) }).toEqual(before);
    expect(hv.frameTable.owner(victimMfn)).toBe(victim.domid);
    expect(hv.domain(victim.domid)!.p2m[0]).toBe(victimMfn);
    // nothing was delivered into dom0's entry, so there is nothing to accept
    expect(hv.acceptTransfer(dom0.domid, 7, 1).status).not.toBe(GNTST_okay);
    expect(vmem.read(0, 0, 22).toString()).toBe('the victim kernel page');
  });

  it('with protection off, the victim\'s page changes owner: the receiver places it and reads the victim\'s bytes, while the victim still maps a frame no longer its own', () => {
    const { mem, hv, dom0, attacker, victim, victimMfn, before, status, owners } = flip(false);
    expect(status).toBe(GNTST_okay);
    expect(hv.violationTotal).toBe(0);
    expect(hv.frameTable.owner(victimMfn)).toBe(dom0.domid);
    expect(owners(victim)).toEqual(before.victim.filter((m) => m !== victimMfn));
    expect(owners(attacker)).toEqual(before.attacker);
    // the slot the attacker gave away is empty, as after any flip of its own page
    expect(hv.domain(attacker.domid)!.p2m[5]).toBe(INVALID_MFN);
    expect(hv.domain(victim.domid)!.p2m[0]).toBe(victimMfn);
    const a = hv.acceptTransfer(dom0.domid, 7, 1);
    expect(a).toMatchObject({ status: GNTST_okay, mfn: victimMfn });
    const d0mem = new GuestMemory(mem, hv.domain(dom0.domid)!.p2m);
    expect(d0mem.read(1, 0, 22).toString()).toBe('the victim kernel page');
  });
});
