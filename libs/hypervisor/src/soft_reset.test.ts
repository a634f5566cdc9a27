import { describe, it, expect } from 'vitest';
import { BufferMachineMemory } from '@vnetlab/memory';
import { CostTable } from '@vnetlab/cost';
import { Hypervisor, GrantTableWriter, GNTST_okay, GNTST_bad_domain, EVTCHN_OK, EVTCHN_EINVAL } from './index.js';

// A driver domain whose kernel died and booted again in the same domain: what the dead kernel
// held must be released so that the new one can bind, and the guests can end their grants.
function lab() {
  const mem = new BufferMachineMemory(64);
  const hv = new Hypervisor({ mem, costs: new CostTable() });
  const dom0 = hv.createDomain('driver', 4);
  const guest = hv.createDomain('guest', 4);
  return { hv, dom0, guest, gnt: new GrantTableWriter(mem, guest.grantFrames) };
}

describe('softReset', () => {
  it('closes every port of the caller: the guest’s end goes back to unbound and the new kernel binds it again', () => {
    const { hv, dom0, guest } = lab();
    const u = hv.evtchnAllocUnbound(guest.domid, dom0.domid);
    const b = hv.evtchnBindInterdomain(dom0.domid, guest.domid, u.port);
    expect(b.status).toBe(EVTCHN_OK);
    const r = hv.softReset(dom0.domid);
    expect(r).toMatchObject({ status: GNTST_okay, ports: 1, mappings: 0, boots: 1 });
    expect(hv.softReset(dom0.domid)).toMatchObject({ ports: 0, boots: 2 }); // a second kernel: nothing left to release, yet it knows it is not the first
    expect(hv.evtchnStatus(guest.domid, u.port)).toEqual({ kind: 'unbound', remoteDom: dom0.domid });
    expect(hv.evtchnSend(dom0.domid, b.port).status).toBe(EVTCHN_EINVAL);
    const again = hv.evtchnBindInterdomain(dom0.domid, guest.domid, u.port);
    expect(again.status).toBe(EVTCHN_OK);
    expect(hv.evtchnSend(guest.domid, u.port).target).toEqual({ domid: dom0.domid, port: again.port });
  });

  it('frees a physical IRQ the dead kernel had bound', () => {
    const { hv, dom0 } = lab();
    expect(hv.bindPirq(dom0.domid, 7)).toBeGreaterThan(0);
    expect(hv.bindPirq(dom0.domid, 7)).toBeLessThan(0); // busy while bound
    hv.softReset(dom0.domid);
    expect(hv.raisePirq(7)).toBeUndefined();
    expect(hv.bindPirq(dom0.domid, 7)).toBeGreaterThan(0);
  });

  it('releases the grant mappings it held, so the granter can end the grant and the frame has no I/O reference left', () => {
    const { hv, dom0, guest, gnt } = lab();
    gnt.grantAccess(5, dom0.domid, 2, true);
    const m = hv.grantMap(dom0.domid, guest.domid, 5, true);
    expect(m.status).toBe(GNTST_okay);
    expect(gnt.endAccess(5)).toBe(false);
    expect(hv.softReset(dom0.domid)).toMatchObject({ status: GNTST_okay, mappings: 1 });
    expect(hv.frameTable.ioRefs(m.mfn)).toBe(0);
    expect(gnt.endAccess(5)).toBe(true);
  });

  it('touches no other domain’s ports and refuses an unknown caller', () => {
    const { hv, dom0, guest } = lab();
    const own = hv.evtchnAllocUnbound(guest.domid, guest.domid);
    hv.softReset(dom0.domid);
    expect(hv.evtchnStatus(guest.domid, own.port)).toEqual({ kind: 'unbound', remoteDom: guest.domid });
    expect(hv.softReset(999).status).toBe(GNTST_bad_domain);
  });
});
