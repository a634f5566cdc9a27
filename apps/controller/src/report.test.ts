import { describe, expect, it } from 'vitest';
import { parseArgs, UsageError } from './args.js';
import { planLab } from './plan.js';
import { cpuShares, diffLedger, table } from './report.js';
import { parseTopology } from '@vnetlab/topology';
import { readFileSync } from 'node:fs';

const row = (pcpu: string, domain: string, primitive: string, cycles: number, ops = 1) => ({ host: 'h', pcpu, domain, primitive, cycles, ops });

describe('ledger figures', () => {
  it('a run costs the difference between two cumulative ledgers', () => {
    const before = [row('cpu0', 'dom0', 'copy_byte', 100, 1)];
    const after = [row('cpu0', 'dom0', 'copy_byte', 350, 3), row('cpu1', 'vm1', 'stack_tx', 40, 2)];
    expect(diffLedger(before, after)).toEqual([row('cpu0', 'dom0', 'copy_byte', 250, 2), row('cpu1', 'vm1', 'stack_tx', 40, 2)]);
  });

  it('a row that went backwards was counted by a restarted process from zero: never a negative cost', () => {
    const before = [row('cpu0', 'dom0', 'grant_copy_op', 900, 30), row('cpu0', 'dom0', 'copy_byte', 100, 50)];
    // the new dom0 counted more cycles but fewer ops than the dead one had
    const after = [row('cpu0', 'dom0', 'grant_copy_op', 1000, 20), row('cpu0', 'dom0', 'copy_byte', 40, 10)];
    const d = diffLedger(before, after);
    expect(d).toEqual([row('cpu0', 'dom0', 'grant_copy_op', 1000, 20), row('cpu0', 'dom0', 'copy_byte', 40, 10)]);
    for (const r of d) expect(Math.min(r.cycles, r.ops)).toBeGreaterThanOrEqual(0);
  });

  it('utilisation is cycles over the CPU capacity of the window, and the rest is idle', () => {
    const rows = [row('cpu0', 'dom0', 'x', 1e6), row('cpu0', 'xen', 'y', 5e5)];
    const { cpus, domains } = cpuShares(rows, [{ name: 'h', hz: 1e9, cpus: 2 }], 10e6); // 10 ms at 1 GHz = 1e7 cycles
    const cpu0 = cpus.find((c) => c.pcpu === 'cpu0')!;
    expect(cpu0.byDomain).toEqual({ dom0: 0.1, xen: 0.05 });
    expect(cpu0.idle).toBeCloseTo(0.85, 10);
    expect(cpus.find((c) => c.pcpu === 'cpu1')!.idle).toBe(1);
    expect(domains.find((d) => d.domain === 'dom0')!.cycles).toBe(1e6);
  });

  it('tables align columns and right-align numbers', () => {
    const t = table(['name', 'n'], [['a', 1], ['bbb', 22]]).split('\n');
    expect(t[0]).toBe('name   n');
    expect(t[3]).toBe('bbb   22');
  });
});

describe('command line', () => {
  const specs = [{ name: 'count', type: 'number' as const, help: '', default: 3 }, { name: 'json', type: 'boolean' as const, help: '' }];
  it('parses flags in both spellings and keeps positionals', () => {
    expect(parseArgs(['a', '--count', '5', 'b', '--json'], specs)).toEqual({ positionals: ['a', 'b'], flags: { count: 5, json: true } });
    expect(parseArgs(['--count=7'], specs).flags.count).toBe(7);
  });
  it('refuses unknown flags and bad numbers with a usage error', () => {
    expect(() => parseArgs(['--nope'], specs)).toThrow(UsageError);
    expect(() => parseArgs(['--count', 'many'], specs)).toThrow(/must be a number/);
  });
});

describe('lab plan', () => {
  it('starts hypervisors and NICs before driver domains, and guests last', () => {
    const topo = parseTopology(readFileSync(new URL('../../../examples/two-hosts.yaml', import.meta.url), 'utf8'), 'two-hosts.yaml');
    const plan = planLab(topo);
    const kinds = plan.services.map((s) => s.kind);
    expect(kinds.filter((k) => k === 'guest')).toHaveLength(4);
    expect(kinds.lastIndexOf('hypervisor')).toBeLessThan(kinds.indexOf('driver-domain'));
    expect(kinds.lastIndexOf('driver-domain')).toBeLessThan(kinds.indexOf('guest'));
    expect(new Set(plan.services.map((s) => s.name)).size).toBe(plan.services.length);
  });
});
