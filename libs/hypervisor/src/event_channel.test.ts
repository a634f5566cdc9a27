import { describe, it, expect } from 'vitest';
import { BufferMachineMemory } from '@vnetlab/memory';
import { CostTable } from '@vnetlab/cost';
import { Hypervisor, EVTCHN_OK, EVTCHN_EINVAL, EVTCHN_EPERM, EVTCHN_ESRCH, PortTable } from './index.js';

function lab(protection = true) {
  const mem = new BufferMachineMemory(64);
  const costs = new CostTable();
  const hv = new Hypervisor({ mem, costs, protection });
  return { costs, hv, dom0: hv.createDomain('driver', 2), guest: hv.createDomain('guest', 2), other: hv.createDomain('other', 2) };
}

describe('event channels', () => {
  it('an interdomain channel routes a send from either end to the other end', () => {
    const { costs, hv, dom0, guest } = lab();
    const u = hv.evtchnAllocUnbound(guest.domid, dom0.domid);
    expect(u.status).toBe(EVTCHN_OK);
    expect(u.port).toBeGreaterThan(0);
    const b = hv.evtchnBindInterdomain(dom0.domid, guest.domid, u.port);
    expect(b.status).toBe(EVTCHN_OK);
    const s1 = hv.evtchnSend(guest.domid, u.port);
    expect(s1).toMatchObject({ status: EVTCHN_OK, target: { domid: dom0.domid, port: b.port } });
    expect(s1.cycles).toBe(costs.cycles('hypercall') + costs.cycles('evtchn_send'));
    expect(hv.evtchnSend(dom0.domid, b.port).target).toEqual({ domid: guest.domid, port: u.port });
  });

  it('send on an unbound, closed or never-allocated port is an error and a violation', () => {
    const { hv, dom0, guest } = lab();
    const u = hv.evtchnAllocUnbound(guest.domid, dom0.domid);
    const s = hv.evtchnSend(guest.domid, u.port);
    expect(s.status).toBe(EVTCHN_EINVAL);
    expect(s.target).toBeUndefined();
    expect(hv.violations.at(-1)?.kind).toBe('evtchn_bad_port');
    expect(hv.evtchnSend(guest.domid, 0).status).toBe(EVTCHN_EINVAL);
    expect(hv.evtchnSend(guest.domid, 99999).status).toBe(EVTCHN_EINVAL);
    expect(hv.evtchnSend(guest.domid, Number.NaN).status).toBe(EVTCHN_EINVAL);
  });

  it('closing one end leaves the peer unbound, so it can no longer send', () => {
    const { hv, dom0, guest } = lab();
    const u = hv.evtchnAllocUnbound(guest.domid, dom0.domid);
    const b = hv.evtchnBindInterdomain(dom0.domid, guest.domid, u.port);
    expect(hv.evtchnClose(dom0.domid, b.port).status).toBe(EVTCHN_OK);
    expect(hv.evtchnStatus(guest.domid, u.port)).toEqual({ kind: 'unbound', remoteDom: dom0.domid });
    expect(hv.evtchnSend(guest.domid, u.port).status).toBe(EVTCHN_EINVAL);
    expect(hv.evtchnSend(dom0.domid, b.port).status).toBe(EVTCHN_EINVAL);
    // the backend may bind again (a reconnect)
    const again = hv.evtchnBindInterdomain(dom0.domid, guest.domid, u.port);
    expect(again.status).toBe(EVTCHN_OK);
    expect(hv.evtchnSend(guest.domid, u.port).target).toEqual({ domid: dom0.domid, port: again.port });
  });

  it('a domain cannot bind a port offered to another domain, nor an already-bound one', () => {
    const { hv, dom0, guest, other } = lab();
    const u = hv.evtchnAllocUnbound(guest.domid, dom0.domid);
    const steal = hv.evtchnBindInterdomain(other.domid, guest.domid, u.port);
    expect(steal.status).toBe(EVTCHN_EPERM);
    expect(hv.violations.at(-1)).toMatchObject({ kind: 'evtchn_not_offered', domid: other.domid });
    hv.evtchnBindInterdomain(dom0.domid, guest.domid, u.port);
    expect(hv.evtchnBindInterdomain(dom0.domid, guest.domid, u.port).status).toBe(EVTCHN_EINVAL);
    expect(hv.evtchnAllocUnbound(guest.domid, 77).status).toBe(EVTCHN_ESRCH);
  });

  it('with protection off a port offered to another domain can be hijacked', () => {
    const { hv, dom0, guest, other } = lab(false);
    const u = hv.evtchnAllocUnbound(guest.domid, dom0.domid);
    const steal = hv.evtchnBindInterdomain(other.domid, guest.domid, u.port);
    expect(steal.status).toBe(EVTCHN_OK);
    expect(hv.evtchnSend(guest.domid, u.port).target?.domid).toBe(other.domid);
  });

  it('allocates ports until the table is full, then refuses', () => {
    const t = new PortTable(4);
    expect([t.alloc({ kind: 'pirq', irq: 1 }), t.alloc({ kind: 'pirq', irq: 2 }), t.alloc({ kind: 'pirq', irq: 3 })]).toEqual([1, 2, 3]);
    expect(t.alloc({ kind: 'pirq', irq: 4 })).toBeUndefined();
  });
});

describe('physical interrupt routing', () => {
  it('routes a raised irq to the port its domain bound', () => {
    const { costs, hv, dom0 } = lab();
    const port = hv.bindPirq(dom0.domid, 11);
    expect(port).toBeGreaterThan(0);
    expect(hv.raisePirq(11)).toEqual({ domid: dom0.domid, port, cycles: costs.cycles('pirq') });
    expect(hv.raisePirq(12)).toBeUndefined();
    expect(hv.evtchnClose(dom0.domid, port).status).toBe(EVTCHN_OK);
    expect(hv.raisePirq(11)).toBeUndefined();
  });

  it('a guest binds only irqs it was permitted, and an irq has one owner', () => {
    const { hv, dom0, guest } = lab();
    expect(hv.bindPirq(guest.domid, 20)).toBe(-1);
    expect(hv.violations.at(-1)?.kind).toBe('pirq_not_permitted');
    hv.permitPirq(guest.domid, 20);
    const port = hv.bindPirq(guest.domid, 20);
    expect(port).toBeGreaterThan(0);
    expect(hv.raisePirq(20)).toMatchObject({ domid: guest.domid, port });
    expect(hv.bindPirq(dom0.domid, 20)).toBe(-1);
    expect(hv.violations.at(-1)?.kind).toBe('pirq_busy');
  });
});
