import { describe, it, expect } from 'vitest';
import { BufferMachineMemory, type MachineMemory } from '@vnetlab/memory';
import { CostTable } from '@vnetlab/cost';
import {
  Hypervisor, GrantTableWriter, CDNA_DESC_DD, CDNA_DESC_EOP, CDNA_DESC_ERR, CDNA_DESC_SIZE, DOMID_XEN, FRAME_FREE,
  GNTST_bad_page, GNTST_okay, XEN_EAGAIN, XEN_EINVAL, XEN_ENOSPC, XEN_EPERM, XEN_ESRCH, XEN_OK,
} from './index.js';

function lab(protection = true) {
  const mem = new BufferMachineMemory(96);
  const costs = new CostTable();
  const hv = new Hypervisor({ mem, costs, protection });
  const dom0 = hv.createDomain('driver', 4);
  const guest = hv.createDomain('guest', 8);
  const victim = hv.createDomain('victim', 8);
  const qs = hv.cdnaAttach(guest.domid, { qs: 3, size: 8 });
  return { mem, costs, hv, dom0, guest, victim, qs };
}

/** The descriptor in read format at a slot of a ring frame. */
function desc(mem: MachineMemory, ringMfn: number, slot: number) {
  const b = mem.read(ringMfn, slot * CDNA_DESC_SIZE, CDNA_DESC_SIZE);
  return { addr: Number(b.readBigUInt64LE(0)), len: b.readUInt16LE(8), flags: b.readUInt16LE(10), status: b.readUInt16LE(12) };
}

/** What the NIC does when it is done with a descriptor: the writeback format, DD set. */
function nicWriteback(mem: MachineMemory, ringMfn: number, slot: number, doneNs: number, len: number, status = CDNA_DESC_DD) {
  const b = Buffer.alloc(CDNA_DESC_SIZE);
  b.writeDoubleLE(doneNs, 0);
  b.writeUInt16LE(len, 8);
  b.writeUInt16LE(CDNA_DESC_EOP, 10);
  b.writeUInt16LE(status, 12);
  mem.write(ringMfn, slot * CDNA_DESC_SIZE, b);
}

describe('CDNA queue sets', () => {
  it('attach puts both rings in zeroed frames the hypervisor owns and gives the NIC their machine addresses', () => {
    const { mem, hv, qs } = lab();
    for (const mfn of [qs.txRingMfn, qs.rxRingMfn]) {
      expect(hv.frameTable.owner(mfn)).toBe(DOMID_XEN);
      expect(mem.read(mfn, 0, 4096).every((b) => b === 0)).toBe(true);
    }
    expect(qs).toMatchObject({ qs: 3, size: 8, txRingAddr: qs.txRingMfn * 4096, rxRingAddr: qs.rxRingMfn * 4096 });
    expect(() => hv.cdnaAttach(qs.domid, { qs: 3 })).toThrow(/already attached/);
    expect(() => hv.cdnaAttach(qs.domid, { qs: 4, size: 3 })).toThrow(/power of two/);
  });

  it('valid buffers are enqueued: the ring holds their machine addresses, lengths and EOP, and their frames hold a reference', () => {
    const { mem, hv, costs, guest, qs } = lab();
    const r = hv.cdnaEnqueue(guest.domid, 3, 'tx', [
      { gfn: 2, offset: 100, len: 60 },
      { gfn: 5, offset: 0, len: 1000, more: true },
      { gfn: 6, offset: 0, len: 514 },
    ]);
    expect(r).toEqual({
      status: XEN_OK, tail: 3, accepted: 3, refused: 0, validated: 3,
      cycles: costs.cycles('hypercall') + costs.cycles('cdna_validate', 3),
    });
    expect(desc(mem, qs.txRingMfn, 0)).toEqual({ addr: guest.p2m[2]! * 4096 + 100, len: 60, flags: CDNA_DESC_EOP, status: 0 });
    expect(desc(mem, qs.txRingMfn, 1)).toEqual({ addr: guest.p2m[5]! * 4096, len: 1000, flags: 0, status: 0 });
    expect(desc(mem, qs.txRingMfn, 2)).toEqual({ addr: guest.p2m[6]! * 4096, len: 514, flags: CDNA_DESC_EOP, status: 0 });
    for (const gfn of [2, 5, 6]) expect(hv.frameTable.ioRefs(guest.p2m[gfn]!)).toBe(1);
    expect(hv.cdnaOutstanding(3, 'tx')).toBe(3);
    // RX descriptors carry no EOP: the NIC sets it in the writeback.
    const rx = hv.cdnaEnqueue(guest.domid, 3, 'rx', [{ gfn: 7, offset: 0, len: 2048 }]);
    expect(rx.tail).toBe(1);
    expect(desc(mem, qs.rxRingMfn, 0)).toEqual({ addr: guest.p2m[7]! * 4096, len: 2048, flags: 0, status: 0 });
    expect(hv.violations).toHaveLength(0);
  });

  it('a buffer in another domain’s page is refused and counted, and the ring is unchanged for it', () => {
    const { mem, hv, guest, victim, qs } = lab();
    const ringBefore = mem.hashFrame(qs.rxRingMfn);
    const victimMfn = victim.p2m[1]!;
    const r = hv.cdnaEnqueue(guest.domid, 3, 'rx', [{ mfn: victimMfn, offset: 0, len: 1500 }]);
    expect(r).toMatchObject({ status: XEN_EPERM, tail: 0, accepted: 0, refused: 1 });
    expect(mem.hashFrame(qs.rxRingMfn)).toBe(ringBefore);
    expect(hv.frameTable.ioRefs(victimMfn)).toBe(0);
    expect(hv.violationCounts.get('cdna_foreign_buffer')).toBe(1);
    expect(hv.violations.at(-1)).toMatchObject({ kind: 'cdna_foreign_buffer', domid: guest.domid });

    // Between two good buffers: the good ones go in, in order, the foreign one leaves no slot.
    const m = hv.cdnaEnqueue(guest.domid, 3, 'rx', [
      { gfn: 1, offset: 0, len: 2048 }, { mfn: victimMfn, offset: 0, len: 2048 }, { gfn: 2, offset: 0, len: 2048 },
    ]);
    expect(m).toMatchObject({ status: XEN_EPERM, tail: 2, accepted: 2, refused: 1, validated: 3 });
    expect(desc(mem, qs.rxRingMfn, 0).addr).toBe(guest.p2m[1]! * 4096);
    expect(desc(mem, qs.rxRingMfn, 1).addr).toBe(guest.p2m[2]! * 4096);
    expect(desc(mem, qs.rxRingMfn, 2)).toEqual({ addr: 0, len: 0, flags: 0, status: 0 });
    expect(hv.violationCounts.get('cdna_foreign_buffer')).toBe(2);
  });

  it('a TX frame with one foreign buffer is refused whole, so the NIC never sees half a frame', () => {
    const { mem, hv, guest, victim, qs } = lab();
    const before = mem.hashFrame(qs.txRingMfn);
    const r = hv.cdnaEnqueue(guest.domid, 3, 'tx', [
      { gfn: 1, offset: 0, len: 100, more: true }, { mfn: victim.p2m[0]!, offset: 0, len: 100 },
    ]);
    expect(r).toMatchObject({ status: XEN_EPERM, accepted: 0, refused: 2, tail: 0 });
    expect(mem.hashFrame(qs.txRingMfn)).toBe(before);
    expect(hv.frameTable.ioRefs(guest.p2m[1]!)).toBe(0);
  });

  it('refuses RX buffers in Xen’s frames even with protection off, and bad ranges always', () => {
    const { hv, guest, qs } = lab(false);
    expect(hv.cdnaEnqueue(guest.domid, 3, 'rx', [{ mfn: guest.grantFrames[0]!, offset: 0, len: 64 }]).status).toBe(XEN_EPERM);
    expect(hv.cdnaEnqueue(guest.domid, 3, 'rx', [{ mfn: qs.txRingMfn, offset: 0, len: 64 }]).status).toBe(XEN_EPERM);
    expect(hv.cdnaEnqueue(guest.domid, 3, 'tx', [{ gfn: 1, offset: 4000, len: 200 }]).status).toBe(XEN_EINVAL);
    expect(hv.cdnaEnqueue(guest.domid, 3, 'tx', [{ gfn: 1, mfn: guest.p2m[1]!, offset: 0, len: 20 }]).status).toBe(XEN_EINVAL);
    expect(hv.cdnaEnqueue(guest.domid, 3, 'tx', [{ gfn: 99, offset: 0, len: 20 }]).status).toBe(XEN_EINVAL);
    expect(hv.cdnaEnqueue(guest.domid, 3, 'tx', [{ gfn: 1, offset: 0, len: 20, more: true }]).status).toBe(XEN_EINVAL);
    expect(hv.cdnaOutstanding(3, 'tx') + hv.cdnaOutstanding(3, 'rx')).toBe(0);
  });

  it('only the owner of a queue set may use it', () => {
    const { hv, victim, costs } = lab();
    const r = hv.cdnaEnqueue(victim.domid, 3, 'tx', [{ gfn: 0, offset: 0, len: 60 }]);
    expect(r).toMatchObject({ status: XEN_ESRCH, accepted: 0, cycles: costs.cycles('hypercall') });
    expect(hv.cdnaComplete(victim.domid, 3, 'tx', 1).status).toBe(XEN_ESRCH);
    expect(hv.violationCounts.get('cdna_bad_queue')).toBe(2);
  });

  it('stops at a full ring (one slot stays empty) and says so; the rest are not examined', () => {
    const { hv, costs, guest } = lab();
    const bufs = Array.from({ length: 9 }, (_, i) => ({ gfn: i % 8, offset: 0, len: 64 }));
    const r = hv.cdnaEnqueue(guest.domid, 3, 'tx', bufs);
    expect(r).toMatchObject({ status: XEN_ENOSPC, accepted: 7, validated: 7, tail: 7 });
    expect(r.cycles).toBe(costs.cycles('hypercall') + costs.cycles('cdna_validate', 7));
    expect(hv.violations).toHaveLength(0);
  });

  it('the page of an enqueued buffer cannot be flipped away until its completion drops the reference', () => {
    const { mem, hv, guest, dom0, qs } = lab();
    const mfn = guest.p2m[4]!;
    hv.cdnaEnqueue(guest.domid, 3, 'tx', [{ gfn: 4, offset: 0, len: 60 }]);
    new GrantTableWriter(mem, dom0.grantFrames).grantTransfer(9, guest.domid);
    const t = hv.grantTransfer(guest.domid, 4, dom0.domid, 9);
    expect(t.status).toBe(GNTST_bad_page);
    expect(hv.violations.at(-1)?.kind).toBe('transfer_busy');
    expect(hv.frameTable.owner(mfn)).toBe(guest.domid);
    expect(hv.decreaseReservation(guest.domid, 4).status).not.toBe(GNTST_okay);

    nicWriteback(mem, qs.txRingMfn, 0, 5_000, 60);
    const c = hv.cdnaComplete(guest.domid, 3, 'tx', 1);
    expect(c.status).toBe(XEN_OK);
    expect(hv.frameTable.ioRefs(mfn)).toBe(0);
    expect(hv.grantTransfer(guest.domid, 4, dom0.domid, 9).status).toBe(GNTST_okay);
    expect(hv.frameTable.owner(mfn)).toBe(dom0.domid);
  });

  it('completion returns the buffers from the hypervisor’s own record, clears the slots, and charges per buffer', () => {
    const { mem, hv, costs, guest, qs } = lab();
    hv.cdnaEnqueue(guest.domid, 3, 'rx', [{ gfn: 2, offset: 64, len: 2000 }, { gfn: 3, offset: 0, len: 2048 }]);
    // The NIC's writeback overwrites the address with its completion time.
    nicWriteback(mem, qs.rxRingMfn, 0, 1_000, 1514);
    nicWriteback(mem, qs.rxRingMfn, 1, 2_000, 0, CDNA_DESC_DD | CDNA_DESC_ERR);
    const c = hv.cdnaComplete(guest.domid, 3, 'rx', 2);
    expect(c.status).toBe(XEN_OK);
    expect(c.buffers).toEqual([
      { gfn: 2, mfn: guest.p2m[2], offset: 64, len: 2000, doneLen: 1514, doneNs: 1_000, ok: true },
      { gfn: 3, mfn: guest.p2m[3], offset: 0, len: 2048, doneLen: 0, doneNs: 2_000, ok: false },
    ]);
    expect(c.cycles).toBe(costs.cycles('hypercall') + costs.cycles('cdna_complete', 2));
    expect(desc(mem, qs.rxRingMfn, 0)).toEqual({ addr: 0, len: 0, flags: 0, status: 0 });
    expect(hv.cdnaOutstanding(3, 'rx')).toBe(0);
  });

  it('refuses to complete what the NIC has not marked done (or done later than tNs), changing nothing', () => {
    const { mem, hv, guest, qs } = lab();
    hv.cdnaEnqueue(guest.domid, 3, 'tx', [{ gfn: 1, offset: 0, len: 60 }, { gfn: 2, offset: 0, len: 60 }]);
    nicWriteback(mem, qs.txRingMfn, 0, 1_000, 60);
    const early = hv.cdnaComplete(guest.domid, 3, 'tx', 2);
    expect(early).toMatchObject({ status: XEN_EAGAIN, buffers: [] });
    expect(hv.violations.at(-1)?.kind).toBe('cdna_not_done');
    expect(hv.frameTable.ioRefs(guest.p2m[1]!)).toBe(1);
    expect(hv.cdnaComplete(guest.domid, 3, 'tx', 1, 500).status).toBe(XEN_EAGAIN);
    expect(hv.cdnaComplete(guest.domid, 3, 'tx', 3).status).toBe(XEN_EINVAL);
    expect(hv.cdnaOutstanding(3, 'tx')).toBe(2);
    expect(hv.cdnaComplete(guest.domid, 3, 'tx', 1, 1_000).buffers).toHaveLength(1);
    expect(hv.frameTable.ioRefs(guest.p2m[1]!)).toBe(0);
    expect(hv.frameTable.ioRefs(guest.p2m[2]!)).toBe(1);
  });

  it('counts and charges add up over a batch with refusals: refs held = accepted - completed', () => {
    const { mem, hv, costs, guest, victim, qs } = lab();
    const bufs = [
      { gfn: 0, offset: 0, len: 60 }, { mfn: victim.p2m[3]!, offset: 0, len: 60 }, { gfn: 1, offset: 0, len: 60 },
      { gfn: 1, offset: 2048, len: 60 }, { mfn: victim.p2m[4]!, offset: 0, len: 60 },
    ];
    const r = hv.cdnaEnqueue(guest.domid, 3, 'tx', bufs);
    expect(r.accepted + r.refused).toBe(bufs.length);
    expect(r.accepted).toBe(3);
    expect(hv.violationCounts.get('cdna_foreign_buffer')).toBe(2);
    const refs = () => guest.p2m.reduce((n, mfn) => n + hv.frameTable.ioRefs(mfn), 0);
    expect(refs()).toBe(3);
    for (let s = 0; s < r.accepted; s++) nicWriteback(mem, qs.txRingMfn, s, 10 * s, 60);
    const c1 = hv.cdnaComplete(guest.domid, 3, 'tx', 2);
    expect(refs()).toBe(1);
    const c2 = hv.cdnaComplete(guest.domid, 3, 'tx', 1);
    expect(refs()).toBe(0);
    const total = r.cycles + c1.cycles + c2.cycles;
    expect(total).toBe(3 * costs.cycles('hypercall') + costs.cycles('cdna_validate', 5) + costs.cycles('cdna_complete', 3));
    // The same page twice holds two references, released one by one.
    expect([...c1.buffers, ...c2.buffers].map((b) => [b.gfn, b.offset])).toEqual([[0, 0], [1, 0], [1, 2048]]);
  });

  it('with protection off a foreign buffer is enqueued (what validation prevents)', () => {
    const { mem, hv, guest, victim, qs } = lab(false);
    const r = hv.cdnaEnqueue(guest.domid, 3, 'rx', [{ mfn: victim.p2m[1]!, offset: 0, len: 1500 }]);
    expect(r.accepted).toBe(1);
    expect(desc(mem, qs.rxRingMfn, 0).addr).toBe(victim.p2m[1]! * 4096);
  });

  it('detach drops outstanding references and frees the rings; a domain cannot be destroyed with buffers enqueued', () => {
    const { hv, guest, qs } = lab();
    hv.cdnaEnqueue(guest.domid, 3, 'rx', [{ gfn: 5, offset: 0, len: 2048 }]);
    expect(() => hv.destroyDomain(guest.domid)).toThrow(/I\/O in flight/);
    hv.cdnaDetach(3);
    expect(hv.frameTable.ioRefs(guest.p2m[5]!)).toBe(0);
    expect(hv.frameTable.owner(qs.txRingMfn)).toBe(FRAME_FREE);
    expect(hv.cdnaQueueSet(3)).toBeUndefined();
    hv.cdnaAttach(guest.domid, { qs: 4, size: 4 });
    hv.destroyDomain(guest.domid);
    expect(hv.cdnaQueueSet(4)).toBeUndefined();
  });
});
