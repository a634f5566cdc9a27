// Creating a domain: the toolstack's names are unique and every domain has memory. Found by the
// lab fuzzer: an empty CreateDomain request (a zero-length message) made a nameless domain with
// no pages, which still took grant-table frames of the host's memory, every time it was sent.
import { describe, expect, it } from 'vitest';
import { BufferMachineMemory } from '@vnetlab/memory';
import { CostTable } from '@vnetlab/cost';
import { Hypervisor, HypervisorError } from './index.js';

function hypervisor() {
  return new Hypervisor({ mem: new BufferMachineMemory(64), costs: new CostTable() });
}

const reason = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return e instanceof HypervisorError ? e.reason : String(e);
  }
  return 'created';
};

describe('createDomain refuses what no toolstack asks for', () => {
  it('an empty name, a name already in use and zero pages are refused, and take no frames', () => {
    const hv = hypervisor();
    hv.createDomain('dom0', 4);
    const free = hv.frameTable.freeFrames;
    expect(reason(() => hv.createDomain('', 4))).toBe('bad_argument');
    expect(reason(() => hv.createDomain('dom0', 4))).toBe('bad_argument');
    expect(reason(() => hv.createDomain('vm1', 0))).toBe('bad_argument');
    expect(hv.frameTable.freeFrames).toBe(free);
    expect(hv.domainIds()).toEqual([0]);
  });

  it('a new name with memory is still created, and the name is free again once it is destroyed', () => {
    const hv = hypervisor();
    hv.createDomain('dom0', 4);
    const vm = hv.createDomain('vm1', 2);
    expect(reason(() => hv.createDomain('vm1', 2))).toBe('bad_argument');
    hv.destroyDomain(vm.domid);
    expect(reason(() => hv.createDomain('vm1', 2))).toBe('created');
  });
});

describe('the bounded refusal log', () => {
  it('keeps the latest refusals, and violationTotal counts every one (a count by position would stop at the bound)', () => {
    const hv = new Hypervisor({ mem: new BufferMachineMemory(64), costs: new CostTable(), maxViolations: 3 });
    hv.createDomain('dom0', 4);
    for (let i = 0; i < 5; i++) hv.grantMap(0, 0, 1000 + i, false); // grefs dom0 never granted
    expect(hv.violations).toHaveLength(3);
    expect(hv.violationTotal).toBe(5);
  });
});
