import { describe, expect, it } from 'vitest';
import { CostError, CostTable, Cpu, FifoServer, Ledger } from './index.js';

const HZ = 2e9; // 2 cycles per ns keeps the arithmetic visible

describe('FifoServer', () => {
  it('starts work at max(arrival, busyUntil) and serves in arrival order', () => {
    const s = new FifoServer();
    expect(s.serve(100, 50)).toEqual({ start: 100, end: 150 });
    expect(s.serve(120, 10)).toEqual({ start: 150, end: 160 }); // queued behind the first
    expect(s.serve(500, 5)).toEqual({ start: 500, end: 505 }); // idle gap, starts on arrival
    expect(s.busyUntil).toBe(505);
  });

  it('refuses negative or non-finite times', () => {
    const s = new FifoServer();
    expect(() => s.serve(-1, 5)).toThrow(CostError);
    expect(() => s.serve(0, Number.NaN)).toThrow(CostError);
    expect(s.busyUntil).toBe(0);
  });
});

describe('Cpu', () => {
  it('converts cycles to ns with its clock and queues work FIFO', () => {
    const ledger = new Ledger(new CostTable({ ring_op: 200 }));
    const cpu = new Cpu('h0.cpu0', HZ, ledger);
    expect(cpu.run(1000, 'dom0', [['ring_op', 3]])).toBe(1000 + 300);
    expect(cpu.run(1100, 'dom0', [['ring_op']])).toBe(1300 + 100);
    expect(cpu.busyUntil).toBe(1400);
  });

  it('charges a domain switch only when the domain changes, to the incoming domain', () => {
    const costs = new CostTable({ ring_op: 100, domain_switch: 1000 });
    const ledger = new Ledger(costs);
    const cpu = new Cpu('c0', HZ, ledger);
    cpu.run(0, 'dom0', [['ring_op']]); // first domain on the CPU: nothing to switch from
    cpu.run(0, 'dom0', [['ring_op']]);
    expect(ledger.totalCycles({ primitive: 'domain_switch' })).toBe(0);
    const end = cpu.run(0, 'guest1', [['ring_op']]);
    expect(ledger.totalCycles({ primitive: 'domain_switch', domain: 'guest1' })).toBe(1000);
    expect(ledger.totalCycles({ primitive: 'domain_switch', domain: 'dom0' })).toBe(0);
    expect(end).toBe((100 + 100 + 1000 + 100) / 2);
    cpu.run(0, 'dom0', [['ring_op']]);
    expect(ledger.totalCycles({ primitive: 'domain_switch' })).toBe(2000);
  });

  it("the hypervisor's share ('xen') never causes a domain switch", () => {
    const ledger = new Ledger(new CostTable({ hypercall: 100, domain_switch: 1000 }));
    const cpu = new Cpu('c0', HZ, ledger);
    cpu.run(0, 'guest1', [['hypercall']]);
    cpu.run(0, 'xen', [['hypercall']]);
    cpu.runCycles(0, 'xen', 'grant_copy_op', 500, 2);
    cpu.run(0, 'guest1', [['hypercall']]);
    expect(ledger.totalCycles({ primitive: 'domain_switch' })).toBe(0);
    expect(cpu.currentDomain).toBe('guest1');
  });

  it('runCycles charges cycles returned by a hypercall under the given primitive and op count', () => {
    const ledger = new Ledger(new CostTable());
    const cpu = new Cpu('c0', HZ, ledger);
    const end = cpu.runCycles(10, 'xen', 'grant_copy_op', 4000, 5);
    expect(end).toBe(10 + 2000);
    expect(ledger.snapshot()).toEqual([{ pcpu: 'c0', domain: 'xen', primitive: 'grant_copy_op', cycles: 4000, ops: 5 }]);
  });

  it('utilisation is the busy fraction of a window, per domain on request', () => {
    const ledger = new Ledger(new CostTable({ ring_op: 200, domain_switch: 0 }));
    const cpu = new Cpu('c0', HZ, ledger);
    cpu.run(0, 'dom0', [['ring_op']]); // busy 0..100
    cpu.run(300, 'guest1', [['ring_op', 2]]); // busy 300..500
    expect(cpu.utilisation(0, 1000)).toBeCloseTo(0.3, 9);
    expect(cpu.utilisation(0, 1000, 'guest1')).toBeCloseTo(0.2, 9);
    expect(cpu.utilisation(50, 350)).toBeCloseTo(100 / 300, 9);
    expect(cpu.utilisation(600, 700)).toBe(0);
    expect(() => cpu.utilisation(10, 10)).toThrow(CostError);
  });

  it('a bad charge leaves the ledger and the CPU untouched', () => {
    const ledger = new Ledger(new CostTable());
    const cpu = new Cpu('c0', HZ, ledger);
    expect(() => cpu.run(0, 'dom0', [['ring_op'], ['copy_byte', -3]])).toThrow(CostError);
    expect(ledger.snapshot()).toEqual([]);
    expect(cpu.busyUntil).toBe(0);
    expect(() => new Cpu('c1', 0, ledger)).toThrow(/hz/);
  });
});
