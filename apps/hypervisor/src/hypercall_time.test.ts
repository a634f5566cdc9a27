// A hypercall's trap time becomes the time of the upcall it raises: one that is not a modelled
// time is malformed. Found by the lab fuzzer: an EVTCHNOP_send at t_ns 1e300 moved the receiving
// domain's clock, and through its frames every clock of the lab, past any use.
import { describe, expect, it } from 'vitest';
import { CostTable } from '@vnetlab/cost';
import { Hypervisor } from '@vnetlab/hypervisor';
import { BufferMachineMemory } from '@vnetlab/memory';
import { MalformedHypercall, runHypercall } from './hypercalls.js';

describe('a hypercall\'s t_ns', () => {
  it('NaN, infinite, negative or past 2^53 ns is malformed (bad_time) and sends no event; a modelled time is served', () => {
    const hv = new Hypervisor({ mem: new BufferMachineMemory(2048), costs: new CostTable() });
    hv.createDomain('dom0', 64);
    const g = hv.createDomain('vm1', 64);
    const port = runHypercall(hv, { seq: 1, caller: g.domid, tNs: 0, pcpu: 'cpu1', op: { $case: 'evtchnAllocUnbound', value: { remoteDomid: 0 } } }).response.port;
    const bound = runHypercall(hv, { seq: 2, caller: 0, tNs: 0, pcpu: 'cpu0', op: { $case: 'evtchnBindInterdomain', value: { remoteDomid: g.domid, remotePort: port } } }).response.port;
    const send = (tNs: number) => runHypercall(hv, { seq: 3, caller: 0, tNs, pcpu: 'cpu0', op: { $case: 'evtchnSend', value: { port: bound } } });
    for (const t of [Number.NaN, Infinity, -1, 2 ** 53 + 2, 1e300]) {
      let reason = 'served';
      try {
        send(t);
      } catch (e) {
        reason = e instanceof MalformedHypercall ? e.reason : String(e);
      }
      expect(reason).toBe('bad_time');
    }
    expect(send(1e15).event).toEqual({ domid: g.domid, port });
  });
});
