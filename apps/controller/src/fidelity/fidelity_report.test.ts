import { describe, expect, it } from 'vitest';
import type { PointFigures } from '../compare/compare_figures.js';
import { constantRows, fidelityMarkdown, gapExplanation, nativeRow, rixnerRows } from './fidelity_report.js';

function point(arch: string, guests: number, o: Partial<PointFigures> & { per: Record<string, number> }): PointFigures {
  const breakdown = Object.entries(o.per).map(([primitive, cyclesPerPacket]) => ({ group: 'dom0' as const, primitive, cycles: cyclesPerPacket * 1000, ops: 1000, cyclesPerPacket, opsPerPacket: 1 }));
  const cyclesPerPacket = breakdown.reduce((n, b) => n + b.cyclesPerPacket, 0);
  return {
    arch, guests, throughputBps: o.throughputBps ?? 1e9, wireBps: o.wireBps ?? 2e9 * (1472 / 1538), bytesSent: 0, bytesDelivered: 0, windowNs: 1, packets: 1000, lost: 0, drops: {},
    cpu: { dom0: 0, xen: 0, guests: 0, other: 0, idle: o.cpu?.idle ?? 0 }, cpuCount: 4, pcpus: [], cyclesPerPacket,
    cyclesPerPacketByGroup: { dom0: cyclesPerPacket, xen: 0, guests: 0, other: 0 }, breakdown,
  } as PointFigures;
}

describe('the fidelity report', () => {
  it('explains a gap by the primitives that make it, largest first', () => {
    const pv = point('pv', 1, { per: { copy_byte: 2900, bridge_lookup: 1200, stack_tx: 5000 } });
    const cdna = point('cdna', 1, { per: { cdna_validate: 600, stack_tx: 5000 } });
    const why = gapExplanation(pv, cdna);
    expect(why).toMatch(/copy_byte \+2900, bridge_lookup \+1200/);
    expect(why).not.toMatch(/stack_tx/);
  });

  it('compares Xen with native by cycles per packet, against the published third', () => {
    const row = nativeRow(point('pv', 1, { per: { a: 21000 } }), point('native', 1, { per: { a: 7000 } }));
    expect(row.modelled).toMatch(/^0\.33 of native/);
    expect(row.ratio).toBeCloseTo(1, 2);
  });

  it('takes the largest guest count of each architecture for the Rixner rows', () => {
    const rows = rixnerRows([point('pv', 1, { per: { a: 1 } }), point('pv', 8, { per: { a: 1 }, cpu: { idle: 0 } as PointFigures['cpu'] })], [point('cdna', 8, { per: { a: 1 }, throughputBps: 1.9e9, cpu: { idle: 2 } as PointFigures['cpu'] })]);
    expect(rows.map((r) => r.setup)).toEqual(['cdna, 8 guests, 2 × 1 Gb/s', 'cdna, 8 guests', 'pv, 8 guests, 2 × 1 Gb/s', '8 guests']);
    expect(rows[2]!.explanation).toMatch(/as published/);
  });

  it('the context switch is held at the seed\'s 995 ns', () => {
    const [ds] = constantRows({ domain_switch: { cycles: 2786, source: '' } }, 2.8e9);
    expect(ds!.modelled).toBe('2786 cycles = 995 ns');
    expect(ds!.ratio).toBeCloseTo(1, 3);
  });

  it('writes a markdown table that escapes pipes', () => {
    const md = fidelityMarkdown([{ experiment: 'a|b', setup: 's', published: 'p', modelled: 'm', explanation: 'e' }], { generated: 'today', command: 'vnetlab fidelity' });
    expect(md).toContain('| a\\|b | s | p | m | – | e |');
  });
});
