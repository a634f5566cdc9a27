import { describe, expect, it } from 'vitest';
import { GapServer } from './gap_server.js';

describe('GapServer: a CPU that takes work out of wall-clock order', () => {
  it('in arrival order it behaves as a FIFO', () => {
    const g = new GapServer();
    expect(g.serve(0, 10)).toMatchObject({ start: 0, end: 10 });
    expect(g.serve(5, 10)).toMatchObject({ start: 10, end: 20 });
    expect(g.serve(30, 5)).toMatchObject({ start: 30, end: 35 });
  });

  it('an early job handed in late runs in the idle gap before later work', () => {
    const g = new GapServer();
    g.serve(100, 10); // busy 100..110
    expect(g.serve(0, 10)).toMatchObject({ start: 0, end: 10 });
    expect(g.busyUntil).toBe(110);
  });

  it('a job bigger than the gap is split around the busy interval', () => {
    const g = new GapServer();
    g.serve(10, 10); // busy 10..20
    const r = g.serve(0, 15);
    expect(r.pieces).toEqual([{ s: 0, e: 10 }, { s: 20, e: 25 }]);
    expect(r.end).toBe(25);
  });

  it('the timeline does not depend on the order the jobs were handed in', () => {
    const jobs = [[0, 7], [3, 4], [20, 2], [8, 9], [1, 1]] as const;
    const total = (order: number[]) => {
      const g = new GapServer();
      for (const i of order) g.serve(jobs[i]![0], jobs[i]![1]);
      return g.busyUntil;
    };
    expect(total([0, 1, 2, 3, 4])).toBe(total([4, 3, 2, 1, 0]));
  });

  it('forgets old history but never runs work before what it forgot', () => {
    const g = new GapServer(4);
    for (let i = 0; i < 10; i++) g.serve(i * 10, 5);
    const r = g.serve(0, 1);
    expect(r.start).toBeGreaterThanOrEqual(25);
  });
});

import { CostTable } from './cost_table.js';
import { Cpu, PhysicalCore } from './cpu.js';
import { Ledger } from './ledger.js';

describe('domains sharing a physical core', () => {
  it('two services placed on one core contend for it and pay a domain switch', () => {
    const core = new PhysicalCore('cpu1');
    const costs = new CostTable();
    const a = new Cpu('cpu1', 1e9, new Ledger(costs), core);
    const b = new Cpu('cpu1', 1e9, new Ledger(costs), core);
    const endA = a.run(0, 'vm1', [['stack_tx', 1]]);
    const endB = b.run(0, 'vm2', [['stack_tx', 1]]);
    expect(endB).toBeGreaterThan(endA); // vm2 waited for vm1
    expect(b.ledger.snapshot().some((r) => r.primitive === 'domain_switch')).toBe(true);
  });

  it('cores of separate Cpu objects without a shared core do not contend', () => {
    const costs = new CostTable();
    const a = new Cpu('cpu1', 1e9, new Ledger(costs));
    const b = new Cpu('cpu1', 1e9, new Ledger(costs));
    expect(b.run(0, 'vm2', [['stack_tx', 1]])).toBe(a.run(0, 'vm1', [['stack_tx', 1]]));
  });
});
