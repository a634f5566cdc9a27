import { describe, expect, it } from 'vitest';
import { CostError, CostTable, Ledger } from './index.js';

describe('Ledger', () => {
  it('sums cycles and ops by (pcpu, domain, primitive)', () => {
    const costs = new CostTable({ ring_op: 10, hypercall: 100 });
    const l = new Ledger(costs);
    expect(l.charge('c0', 'dom0', 'ring_op', 3)).toBe(30);
    l.charge('c0', 'dom0', 'ring_op');
    l.charge('c0', 'guest1', 'ring_op');
    l.charge('c1', 'dom0', 'hypercall', 2);
    expect(l.snapshot()).toEqual([
      { pcpu: 'c0', domain: 'dom0', primitive: 'ring_op', cycles: 40, ops: 4 },
      { pcpu: 'c0', domain: 'guest1', primitive: 'ring_op', cycles: 10, ops: 1 },
      { pcpu: 'c1', domain: 'dom0', primitive: 'hypercall', cycles: 200, ops: 2 },
    ]);
    expect(l.totalCycles()).toBe(250);
    expect(l.totalCycles({ domain: 'dom0' })).toBe(240);
  });

  it('a per-byte charge counts one op and its bytes', () => {
    const l = new Ledger(new CostTable({ copy_byte: 2 }));
    l.charge('c0', 'dom0', 'copy_byte', 1500);
    l.charge('c0', 'dom0', 'copy_byte', 500);
    expect(l.snapshot()).toEqual([{ pcpu: 'c0', domain: 'dom0', primitive: 'copy_byte', cycles: 4000, ops: 2, bytes: 2000 }]);
  });

  it('merging two snapshots gives the same totals as charging one ledger', () => {
    const costs = new CostTable();
    const a = new Ledger(costs);
    const b = new Ledger(costs);
    const both = new Ledger(costs);
    a.charge('c0', 'dom0', 'grant_copy_op', 2);
    b.charge('c0', 'dom0', 'grant_copy_op', 3);
    b.charge('c1', 'guest1', 'copy_byte', 64);
    both.charge('c0', 'dom0', 'grant_copy_op', 5);
    both.charge('c1', 'guest1', 'copy_byte', 64);
    const merged = new Ledger(costs);
    merged.merge(a.snapshot());
    merged.merge(b.snapshot());
    expect(merged.snapshot()).toEqual(both.snapshot());
  });

  it('a snapshot is a copy: changing it does not change the ledger', () => {
    const l = new Ledger(new CostTable());
    l.charge('c0', 'dom0', 'hypercall');
    l.snapshot()[0]!.cycles = 1;
    expect(l.snapshot()[0]!.cycles).toBe(new CostTable().cycles('hypercall'));
  });

  it('merge refuses a bad row and leaves the ledger unchanged', () => {
    const l = new Ledger(new CostTable());
    l.charge('c0', 'dom0', 'hypercall');
    const before = l.snapshot();
    const good = { pcpu: 'c0', domain: 'dom0', primitive: 'hypercall' as const, cycles: 5, ops: 1 };
    expect(() => l.merge([good, { ...good, cycles: -1 }])).toThrow(CostError);
    expect(() => l.merge([{ ...good, primitive: 'warp' as never }])).toThrow(/unknown primitive/);
    expect(l.snapshot()).toEqual(before);
  });

  it('chargeCycles refuses negative cycles', () => {
    const l = new Ledger(new CostTable());
    expect(() => l.chargeCycles('c0', 'xen', 'grant_map', -1)).toThrow(CostError);
  });
});
