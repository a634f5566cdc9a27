import { describe, expect, it } from 'vitest';
import type { PointFigures } from '../compare/compare_figures.js';
import { constantRows, fidelityMarkdown, gapExplanation, nativeRow, rixnerRows } from './fidelity_report.js';

function point(arch: string, guests: number, o: Partial<PointFigures> & { per: Record<string, number> }): PointFigures {
  const breakdown = Object.entries(o.per).map(([primitive, cyclesPerPacket]) => ({ group: 'dom0' as const, primitive, cycles: cyclesPerPacket * 1000, ops: 1000, cyclesPerPacket, opsPerPacket: 1 }));
  const cyclesPerPacket = breakdown.reduce((n, b) => n + b.cyclesPerPacket, 0);
  return {
    arch, guests, throughputBps: o.throughputBps ?? 1e9, wireBps: o.wireBps ?? 2e9 * (1472 / 1538), bytesSent: 0, bytesDelivered: o.bytesDelivered ?? 0, windowNs: 1, packets: 1000, lost: 0, drops: {},
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
    const rows = rixnerRows([point('pv', 1, { per: { a: 1 } }), point('pv', 8, { per: { a: 1 }, cpu: { idle: 0 } as PointFigures['cpu'] })], [point('cdna', 8, { per: { a: 1 }, throughputBps: 1.9e9, cpu: { idle: 2 } as PointFigures['cpu'] })], { cpus: 4, hz: 2.8e9 });
    expect(rows.map((r) => r.setup)).toEqual(['cdna, 8 guests, 2 × 1 Gb/s, 4 CPUs at 2.8 GHz', 'cdna, 8 guests', 'pv, 8 guests, 2 × 1 Gb/s, 4 CPUs at 2.8 GHz', '8 guests']);
    // one shared CPU is said to be one, with where the figure comes from
    expect(rixnerRows([], [point('cdna', 2, { per: { a: 1 } })], { cpus: 1, hz: 2.4e9 })[0]!.setup).toMatch(/1 CPU at 2\.4 GHz shared by dom0, Xen and the guests/);
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

describe('the Menon rows', () => {
  const tcp = (arch: string, per: Record<string, number>, packets: number, bytes: number) => ({ ...point(arch, 1, { per }), packets, bytesDelivered: bytes });

  it('compares cycles per delivered byte against the published ×4.4 and names what fell and what remains', async () => {
    const { menonRows, cyclesPerByte } = await import('./fidelity_report.js');
    // 1000 frames of 1448 bytes: the original pays stack_tx per frame, the optimized once per 20
    const original = tcp('pv', { stack_tx: 5000, checksum_byte: 1303, copy_byte: 2751 }, 1000, 1_448_000);
    const both = tcp('pv+csum+tso', { stack_tx: 250, copy_byte: 2751 }, 1000, 1_448_000);
    expect(cyclesPerByte(original)).toBeCloseTo((5000 + 1303 + 2751) / 1448, 6);
    const [row] = menonRows({ original, all: both });
    expect(row!.published).toMatch(/×4\.4/);
    expect(row!.modelled).toMatch(/^×3\.02 \(6\.25 → 2\.07 cycles\/byte\)$/);
    expect(row!.ratio).toBeCloseTo(9054 / 3001 / 4.4, 6);
    expect(row!.explanation).toMatch(/fell most: stack_tx −3\.28, checksum_byte −0\.90/);
    expect(row!.explanation).toMatch(/still paid per byte: copy_byte 1\.90/);
  });

  it('adds a row per variant it is given, each alone against the original', async () => {
    const { menonRows } = await import('./fidelity_report.js');
    const p = tcp('pv', { a: 1000 }, 10, 1000);
    const rows = menonRows({ original: p, csum: p, tso: p, noremap: p, superpages: p, all: p, allNoNicOffload: p, copy: p });
    expect(rows.map((r) => r.experiment)).toEqual([
      'Menon 2006: guest transmit, all optimizations together (seed 003)',
      'Menon 2006: guest transmit, virtual checksum offload alone',
      'Menon 2006: guest transmit, virtual TSO alone',
      'Menon 2006: guest transmit without remapping alone',
      'Menon 2006: guest transmit, superpages alone',
      'Menon 2006: all optimizations on a NIC without offloads',
      'Menon 2006 baseline vs modern netback (grant copy)',
    ]);
    expect(menonRows({ original: p })).toEqual([]);
  });

});

describe('Menon driver-domain receive rows', () => {
  it('gives the superpages gain beside +35% and the distance to native beside 7%, and names the walks that fell', async () => {
    const { menonDom0Rows } = await import('./fidelity_report.js');
    const p = (arch: string, per: Record<string, number>) => point(arch, 1, { per, packets: 1000, bytesDelivered: 1_448_000 } as Partial<PointFigures> & { per: Record<string, number> });
    const [gain, native] = menonDom0Rows(p('dom0', { stack_rx: 10000, tlb_miss: 3500 }), p('dom0+super', { stack_rx: 10000 }), p('native', { stack_rx: 9300 }));
    expect(gain!.modelled).toMatch(/^×1\.35 \(\+35%;/);
    expect(gain!.explanation).toMatch(/tlb_miss 3500 → 0 cycles\/packet/);
    expect(gain!.ratio).toBeCloseTo(1, 2);
    expect(gain!.explanation).toMatch(/tlb_miss −/);
    expect(native!.modelled).toMatch(/^7% below native/);
    expect(menonDom0Rows(p('dom0', { stack_rx: 1 }), p('dom0+super', { stack_rx: 1 }))).toHaveLength(1);
  });
});

describe('Menon guest receive rows', () => {
  it('gives the copy-over-flip gain per byte beside +18%, and the distance to native beside 61%', async () => {
    const { menonReceiveRows } = await import('./fidelity_report.js');
    const p = (arch: string, perPacket: number) => point(arch, 1, { per: { stack_rx: perPacket }, packets: 1000, bytesDelivered: 1_448_000 } as Partial<PointFigures> & { per: Record<string, number> });
    const [gain, native] = menonReceiveRows(p('pv-flip', 14160), p('pv', 12000), p('native', 4680));
    expect(gain!.modelled).toMatch(/^×1\.18 /);
    expect(gain!.ratio).toBeCloseTo(1, 2);
    expect(native!.modelled).toMatch(/^61% below native/);
    expect(native!.ratio).toBeCloseTo(1, 2);
  });
});
