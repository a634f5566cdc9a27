import { describe, it, expect } from 'vitest';
import { BufferMachineMemory, PAGE_SIZE } from '@vnetlab/memory';
import { CostTable } from '@vnetlab/cost';
import { Hypervisor, GrantTableWriter, DOMID_XEN, FRAME_FREE, HypervisorError } from './index.js';

function lab(frames = 64, maxViolations?: number) {
  const mem = new BufferMachineMemory(frames);
  return { mem, hv: new Hypervisor({ mem, costs: new CostTable(), maxViolations }) };
}

describe('domains', () => {
  it('the first domain is dom0, and each gets its pages plus four grant frames owned by Xen', () => {
    const { hv } = lab();
    const d0 = hv.createDomain('driver', 6);
    const d1 = hv.createDomain('guest', 3);
    expect([d0.domid, d1.domid]).toEqual([0, 1]);
    expect(d0.p2m).toHaveLength(6);
    expect(d1.grantFrames).toHaveLength(4);
    for (const mfn of d0.p2m) expect(hv.frameTable.owner(mfn)).toBe(0);
    for (const mfn of d1.grantFrames) expect(hv.frameTable.owner(mfn)).toBe(DOMID_XEN);
    const all = new Set([...d0.p2m, ...d0.grantFrames, ...d1.p2m, ...d1.grantFrames]);
    expect(all.size).toBe(6 + 4 + 3 + 4);
    expect(hv.domain(1)?.name).toBe('guest');
    expect(hv.domain(9)).toBeUndefined();
  });

  it('hands a domain zeroed frames even if machine memory held old bytes', () => {
    const { mem, hv } = lab(16);
    for (let m = 0; m < 16; m++) mem.write(m, 0, Buffer.alloc(PAGE_SIZE, 0xaa));
    const d = hv.createDomain('guest', 4);
    for (const mfn of [...d.p2m, ...d.grantFrames]) expect(mem.read(mfn, 0, PAGE_SIZE).equals(Buffer.alloc(PAGE_SIZE))).toBe(true);
  });

  it('refuses a domain that does not fit, leaving memory as it was', () => {
    const { hv } = lab(16);
    hv.createDomain('driver', 8);
    const free = hv.frameTable.freeFrames;
    expect(() => hv.createDomain('big', 5)).toThrow('out of memory');
    expect(hv.frameTable.freeFrames).toBe(free);
    expect(hv.domainIds()).toEqual([0]);
    expect(() => hv.createDomain('bad', -1)).toThrow(HypervisorError);
  });

  it('the domain info is a snapshot: changing it changes nothing in the hypervisor', () => {
    const { hv } = lab();
    const d = hv.createDomain('driver', 2);
    d.p2m[0] = 63;
    expect(hv.domain(0)!.p2m[0]).not.toBe(63);
  });

  it('populatePhysmap reports exhaustion as a status, not a crash', () => {
    const { mem, hv } = lab(16);
    const d0 = hv.createDomain('driver', 6);
    const g = hv.createDomain('guest', 2); // 6 + 4 + 2 + 4: every frame is in use
    new GrantTableWriter(mem, g.grantFrames).grantTransfer(0, d0.domid);
    expect(hv.grantTransfer(d0.domid, 0, g.domid, 0).status).toBe(0); // dom0's slot 0 is now empty
    const p = hv.populatePhysmap(d0.domid, 0);
    expect(p.status).toBeLessThan(0);
    expect(hv.violations.at(-1)?.kind).toBe('out_of_memory');
    expect(hv.acceptTransfer(g.domid, 0, 1).status).toBe(0); // the guest frees its old page 1
    expect(hv.populatePhysmap(d0.domid, 0).status).toBe(0);
  });

  it('destroying a domain frees its frames, but not while its grants are mapped', () => {
    const { mem, hv } = lab();
    const d0 = hv.createDomain('driver', 2);
    const g = hv.createDomain('guest', 3);
    const gnt = new GrantTableWriter(mem, g.grantFrames);
    gnt.grantAccess(0, d0.domid, 0, false);
    const m = hv.grantMap(d0.domid, g.domid, 0, false);
    expect(() => hv.destroyDomain(g.domid)).toThrow(/mapped/);
    hv.grantUnmap(d0.domid, m.handle);
    const u = hv.evtchnAllocUnbound(g.domid, d0.domid);
    const b = hv.evtchnBindInterdomain(d0.domid, g.domid, u.port);
    hv.destroyDomain(g.domid);
    for (const mfn of [...g.p2m, ...g.grantFrames]) expect(hv.frameTable.owner(mfn)).toBe(FRAME_FREE);
    expect(hv.domain(g.domid)).toBeUndefined();
    expect(hv.evtchnStatus(d0.domid, b.port)).toEqual({ kind: 'unbound', remoteDom: g.domid });
    expect(hv.createDomain('next', 1).domid).toBe(2); // domids are not reused
  });

  it('keeps a bounded violation log with totals by kind', () => {
    const { hv } = lab(64, 3);
    const d = hv.createDomain('driver', 1);
    for (let i = 0; i < 5; i++) hv.evtchnSend(d.domid, 1000 + i);
    expect(hv.violations).toHaveLength(3);
    expect(hv.violations[0].detail).toMatch(/1002/);
    expect(hv.violationCounts.get('evtchn_bad_port')).toBe(5);
  });
});
