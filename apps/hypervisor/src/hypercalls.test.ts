import { describe, expect, it } from 'vitest';
import { CostTable } from '@vnetlab/cost';
import { GTF_permit_access, GrantTableWriter, Hypervisor } from '@vnetlab/hypervisor';
import { BufferMachineMemory, GuestMemory } from '@vnetlab/memory';
import type { hypercall } from '@vnetlab/proto';
import { MalformedHypercall, runHypercall } from './hypercalls.js';

function host() {
  const mem = new BufferMachineMemory(4096);
  const hv = new Hypervisor({ mem, costs: new CostTable() });
  const dom0 = hv.createDomain('dom0', 256);
  const g = hv.createDomain('vm1', 256);
  return { mem, hv, dom0, g };
}

const req = (caller: number, op: hypercall.HypercallRequest['op']): hypercall.HypercallRequest => ({ seq: 7, caller, tNs: 0, pcpu: 'cpu0', op });

describe('hypercalls from the wire', () => {
  it('a batched grant copy moves the bytes and reports one status per op and its charges', () => {
    const { mem, hv, dom0, g } = host();
    const gm = new GuestMemory(mem, g.p2m);
    gm.write(20, 0, Buffer.from('hello, netback'));
    new GrantTableWriter(mem, g.grantFrames).grantAccess(9, dom0.domid, 20, true);
    const out = runHypercall(hv, req(0, { $case: 'grantCopy', value: { ops: [
      { source: { ref: { $case: 'gref', value: 9 }, domid: g.domid, offset: 0 }, dest: { ref: { $case: 'gfn', value: 30 }, domid: 0x7ff0, offset: 0 }, len: 14 },
      { source: { ref: { $case: 'gref', value: 10 }, domid: g.domid, offset: 0 }, dest: { ref: { $case: 'gfn', value: 31 }, domid: 0x7ff0, offset: 0 }, len: 14 },
    ] } }));
    expect(out.response.seq).toBe(7);
    expect(out.response.statuses[0]).toBe(0);
    expect(out.response.statuses[1]).toBeLessThan(0); // gref 10 was never granted
    expect(new GuestMemory(mem, dom0.p2m).read(30, 0, 14).toString()).toBe('hello, netback');
    const charges = Object.fromEntries(out.response.charges.map((c) => [c.primitive, c.count]));
    expect(charges).toEqual({ hypercall: 1, grant_copy_op: 2, copy_byte: 14 });
    expect(out.response.cycles).toBeGreaterThan(0);
  });

  it('a storm of sends from a guest: beyond the burst one upcall at the window end, the rest coalesced, each said so', () => {
    const { hv, g } = host();
    const p = runHypercall(hv, req(g.domid, { $case: 'evtchnAllocUnbound', value: { remoteDomid: 0 } })).response.port;
    runHypercall(hv, req(0, { $case: 'evtchnBindInterdomain', value: { remoteDomid: g.domid, remotePort: p } }));
    const outs = Array.from({ length: 20 }, (_, i) => runHypercall(hv, { ...req(g.domid, { $case: 'evtchnSend', value: { port: p } }), tNs: 1000 + i }));
    expect(outs.filter((o) => o.event && o.event.tNs === undefined)).toHaveLength(16);
    expect(outs[16]!.event).toMatchObject({ domid: 0, tNs: 100_000 });
    expect(outs[16]!.response).toMatchObject({ status: 0, coalesced: true, target: { atNs: 100_000 } });
    expect(outs.slice(17).every((o) => o.event === undefined && o.response.coalesced && o.response.status === 0)).toBe(true);
  });

  it('a p2m write names any existing frame, and only an existing one', () => {
    const { hv, dom0, g } = host();
    expect(runHypercall(hv, req(g.domid, { $case: 'p2mWrite', value: { gfn: 3, mfn: dom0.p2m[0]! } })).response.status).toBe(0);
    expect(hv.domain(g.domid)!.p2m[3]).toBe(dom0.p2m[0]);
    expect(runHypercall(hv, req(g.domid, { $case: 'p2mWrite', value: { gfn: 3, mfn: 4096 } })).response.status).toBeLessThan(0);
  });

  it('an event-channel send names the domain and port to deliver to', () => {
    const { hv, dom0, g } = host();
    const p = runHypercall(hv, req(g.domid, { $case: 'evtchnAllocUnbound', value: { remoteDomid: 0 } })).response.port;
    const b = runHypercall(hv, req(0, { $case: 'evtchnBindInterdomain', value: { remoteDomid: g.domid, remotePort: p } })).response;
    expect(b.status).toBe(0);
    const s = runHypercall(hv, req(0, { $case: 'evtchnSend', value: { port: b.port } }));
    expect(s.event).toEqual({ domid: g.domid, port: p });
    expect(dom0.domid).toBe(0);
  });

  it('a request from a domain that does not exist is malformed, not a crash', () => {
    const { hv } = host();
    expect(() => runHypercall(hv, req(99, { $case: 'evtchnSend', value: { port: 1 } }))).toThrow(MalformedHypercall);
  });

  it('an empty or oversized grant-copy batch and a missing op are refused with a reason', () => {
    const { hv, g } = host();
    const reason = (r: hypercall.HypercallRequest) => {
      try {
        runHypercall(hv, r);
        return 'accepted';
      } catch (e) {
        return (e as MalformedHypercall).reason;
      }
    };
    expect(reason(req(g.domid, { $case: 'grantCopy', value: { ops: [] } }))).toBe('bad_batch');
    expect(reason(req(g.domid, undefined))).toBe('no_op');
    expect(reason(req(g.domid, { $case: 'grantCopy', value: { ops: [{ source: undefined, dest: undefined, len: 1 }] } }))).toBe('bad_field');
  });

  it('a guest that copies from a page granted to someone else is refused and nothing moves', () => {
    const { mem, hv, g } = host();
    const other = hv.createDomain('vm2', 64);
    new GrantTableWriter(mem, other.grantFrames).grantAccess(3, 0, 5, false); // vm2 grants dom0, not vm1
    const before = new GuestMemory(mem, g.p2m).hash();
    const out = runHypercall(hv, req(g.domid, { $case: 'grantCopy', value: { ops: [
      { source: { ref: { $case: 'gref', value: 3 }, domid: other.domid, offset: 0 }, dest: { ref: { $case: 'gfn', value: 1 }, domid: g.domid, offset: 0 }, len: 64 },
    ] } }));
    expect(out.response.statuses[0]).toBeLessThan(0);
    expect(new GuestMemory(mem, g.p2m).hash()).toBe(before);
    expect(hv.violations.length).toBeGreaterThan(0);
    expect(GTF_permit_access).toBe(1);
  });
});
