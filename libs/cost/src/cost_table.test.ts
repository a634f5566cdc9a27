import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CostError, CostTable, DEFAULT_COSTS, PRIMITIVES, REFERENCE_HZ, costTableMarkdown } from './index.js';

describe('CostTable', () => {
  it('a per-byte cost scales linearly with the byte count', () => {
    const t = new CostTable();
    expect(t.entry('copy_byte').unit).toBe('byte');
    expect(t.cycles('copy_byte', 1500)).toBeCloseTo(1500 * DEFAULT_COSTS.copy_byte.cycles, 6);
    expect(t.cycles('copy_byte', 3000)).toBeCloseTo(2 * t.cycles('copy_byte', 1500), 6);
    expect(t.cycles('copy_byte', 0)).toBe(0);
  });

  it('a per-op cost counts n operations and defaults to one', () => {
    const t = new CostTable();
    expect(t.cycles('hypercall')).toBe(DEFAULT_COSTS.hypercall.cycles);
    expect(t.cycles('grant_copy_op', 3)).toBe(3 * DEFAULT_COSTS.grant_copy_op.cycles);
  });

  it('an override replaces the cycles of one primitive only and says it is an override', () => {
    const t = new CostTable({ page_flip: 123 });
    expect(t.cycles('page_flip')).toBe(123);
    expect(t.entry('page_flip').source).toMatch(/^override/);
    expect(t.cycles('grant_map')).toBe(DEFAULT_COSTS.grant_map.cycles);
    expect(DEFAULT_COSTS.page_flip.cycles).not.toBe(123);
  });

  it('refuses unknown primitives, negative counts and negative overrides with a CostError', () => {
    const t = new CostTable();
    expect(() => t.cycles('teleport' as never)).toThrow(CostError);
    expect(() => t.cycles('copy_byte', -1)).toThrow(/count/);
    expect(() => new CostTable({ hypercall: -5 })).toThrow(CostError);
    expect(() => new CostTable({ nope: 1 } as never)).toThrow(/unknown primitive/);
  });

  it('every default entry has positive cycles, a unit, a source and the CPU it was measured on', () => {
    for (const p of PRIMITIVES) {
      const e = DEFAULT_COSTS[p];
      expect(e.cycles, p).toBeGreaterThan(0);
      expect(['op', 'byte'], p).toContain(e.unit);
      expect(e.source.length, p).toBeGreaterThan(20);
      expect(e.measuredOn.length, p).toBeGreaterThan(3);
    }
  });

  it('a device-time primitive is refused as CPU cycles and read as nanoseconds', () => {
    const t = new CostTable();
    expect(DEFAULT_COSTS.iommu_walk.onDevice).toBe(true);
    expect(() => t.cycles('iommu_walk')).toThrow(/time on a device/);
    expect(t.deviceNs('iommu_walk', 3)).toBe(3 * DEFAULT_COSTS.iommu_walk.cycles);
    expect(() => t.deviceNs('hypercall')).toThrow(CostError);
    // An override keeps it device time.
    expect(new CostTable({ iommu_walk: 500 }).deviceNs('iommu_walk')).toBe(500);
    expect(costTableMarkdown()).toContain('| `iommu_walk` | device | op | 220 |');
  });

  it('docs/costs.md is exactly the generated table, so the two cannot drift', () => {
    const path = fileURLToPath(new URL('../../../docs/costs.md', import.meta.url));
    expect(readFileSync(path, 'utf8')).toBe(costTableMarkdown());
  });

  it('the generated table has one row per primitive', () => {
    const md = costTableMarkdown();
    for (const p of PRIMITIVES) expect(md).toContain(`| \`${p}\` |`);
  });

  it('the derived figures agree with the published budgets they were derived from', () => {
    const c = (p: keyof typeof DEFAULT_COSTS, n = 1) => DEFAULT_COSTS[p].cycles * n;
    const nativeRx = c('nic_driver_rx') + c('stack_rx') + c('copy_byte', 1448);
    expect(Math.abs(nativeRx - 12_000) / 12_000).toBeLessThan(0.1);
    expect(c('grant_copy_op') + c('copy_byte', 1500)).toBeLessThan(c('page_flip'));
    expect((c('domain_switch') / REFERENCE_HZ) * 1e9).toBeCloseTo(995, 0);
  });

  it('the switch and forwarding costs keep Emmerich Table I\'s pNIC→pNIC differences over Open vSwitch (3.3 GHz)', () => {
    const perFrame = (mpps: number) => 3300 / mpps; // cycles per frame on one 3.3 GHz core
    const c = (p: keyof typeof DEFAULT_COSTS) => DEFAULT_COSTS[p].cycles;
    expect(c('bridge_lookup') - c('flow_lookup')).toBeCloseTo(perFrame(1.11) - perFrame(1.88), -1);
    expect(c('ip_forward') - c('flow_lookup')).toBeCloseTo(perFrame(1.58) - perFrame(1.88), -1);
  });
});
