// A small comparison sweep through the CLI: PV and multiqueue with 1 and 2 guests sending at
// once, each point its own lab in host mode. Checks relations that follow from what each
// architecture does, not figures.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allElements, parseXml, type CompareResult, type PointFigures } from '@vnetlab/app-controller';
import { vnetlab } from '../src/lab_kit.js';

const BYTES = 200_000;
const FRAMES_PER_GUEST = Math.ceil(BYTES / 1472);

describe('vnetlab compare (pv vs multiqueue, 1 and 2 guests)', () => {
  let dir: string;
  let result: CompareResult;
  const point = (arch: string, guests: number) => result.points.find((p) => p.arch === arch && p.guests === guests)!;
  const perPacket = (p: PointFigures, group: string, primitive: string) =>
    p.breakdown.filter((b) => b.group === group && b.primitive === primitive).reduce((n, b) => n + b.opsPerPacket, 0);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vnetlab-compare-'));
    const r = await vnetlab(['compare', '--arch', 'pv,multiqueue', '--guests', '1,2', '--bytes-per-guest', String(BYTES), '--out', join(dir, 'out'), '--lab-dir', join(dir, 'lab'), '--json'], { timeoutMs: 110_000 });
    if (r.code !== 0) throw new Error(`vnetlab compare failed (${r.code}): ${r.stderr}`);
    result = JSON.parse(r.stdout) as CompareResult;
    // one progress line per point
    expect(r.stderr.split('\n').filter((l) => /^\[\d\/4\] /.test(l))).toHaveLength(4);
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('runs every point, and every guest sends all its frames, delivered or counted as lost', () => {
    expect(result.skipped).toEqual([]);
    expect(result.points.map((p) => `${p.arch}/${p.guests}`).sort()).toEqual(['multiqueue/1', 'multiqueue/2', 'pv/1', 'pv/2']);
    for (const p of result.points) {
      expect(p.packets + p.lost).toBe(p.guests * FRAMES_PER_GUEST);
      expect(p.packets).toBeGreaterThan(0);
    }
  });

  it('never delivers payload faster than the wire', () => {
    for (const p of result.points) {
      expect(p.throughputBps).toBeGreaterThan(0);
      expect(p.throughputBps).toBeLessThanOrEqual(p.wireBps);
    }
  });

  it('the SUT\'s CPU shares (dom0, xen, guests, idle) add up to its CPUs, each physical CPU to one', () => {
    for (const p of result.points) {
      const sum = Object.values(p.cpu).reduce((a, b) => a + b, 0);
      expect(sum).toBeCloseTo(result.setup.cpus, 2);
      expect(p.pcpus).toHaveLength(result.setup.cpus);
      for (const c of p.pcpus) expect(c.dom0 + c.xen + c.guests + c.other + c.idle).toBeCloseTo(1, 2);
      // dom0 runs on cpu0 only, guests never there
      expect(p.pcpus[0].dom0).toBeGreaterThan(0);
      expect(p.pcpus[0].guests).toBe(0);
      for (const c of p.pcpus.slice(1)) expect(c.dom0).toBe(0);
    }
    // two guests sit on two different cores
    expect(point('pv', 2).pcpus.filter((c) => c.guests > 0)).toHaveLength(2);
  });

  it('pv moves every packet through the bridge with a grant copy; multiqueue charges no copy and no bridge lookup in dom0', () => {
    for (const g of [1, 2]) {
      const pv = point('pv', g);
      const mq = point('multiqueue', g);
      expect(perPacket(pv, 'dom0', 'bridge_lookup')).toBeGreaterThanOrEqual(1);
      expect(perPacket(pv, 'xen', 'grant_copy_op')).toBeGreaterThanOrEqual(1);
      // the ledger counts a per-byte primitive's charges, not its bytes: its cycles say how many bytes
      const copied = pv.breakdown.filter((b) => b.group === 'xen' && b.primitive === 'copy_byte').reduce((n, b) => n + b.cyclesPerPacket, 0) / result.costs.copy_byte.cycles;
      expect(copied).toBeGreaterThanOrEqual(1472);
      expect(perPacket(mq, 'dom0', 'bridge_lookup')).toBe(0);
      expect(perPacket(mq, 'dom0', 'copy_byte')).toBe(0);
      expect(perPacket(mq, 'xen', 'grant_copy_op')).toBe(0);
      expect(perPacket(mq, 'xen', 'grant_map')).toBeGreaterThanOrEqual(1);
      // what pv spends copying, multiqueue does not spend at all
      const copy = (p: PointFigures) => p.breakdown.filter((b) => b.primitive === 'copy_byte').reduce((n, b) => n + b.cyclesPerPacket, 0);
      expect(copy(mq)).toBeLessThan(copy(pv));
    }
  });

  it('writes compare.json and well-formed plots: one line per architecture, one bar per point', () => {
    const out = join(dir, 'out');
    expect(JSON.parse(readFileSync(join(out, 'compare.json'), 'utf8')).points).toHaveLength(4);
    const tp = allElements(parseXml(readFileSync(join(out, 'throughput.svg'), 'utf8')));
    expect(tp.filter((e) => e.name === 'polyline')).toHaveLength(2);
    const labels = tp.filter((e) => e.name === 'text').map((e) => e.text);
    for (const s of ['pv', 'multiqueue', 'guests']) expect(labels).toContain(s);
    const cpu = allElements(parseXml(readFileSync(join(out, 'cpu.svg'), 'utf8')));
    expect(cpu.filter((e) => e.attrs.class === 'bar')).toHaveLength(4);
  });

  it('explain shows cycles per packet by primitive per architecture, with each primitive\'s source', async () => {
    const r = await vnetlab(['explain', join(dir, 'out'), '--sources']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/pv \(2\).*multiqueue \(2\)/);
    for (const prim of ['bridge_lookup', 'grant_copy_op', 'grant_map']) {
      expect(r.stdout).toContain(prim);
      expect(r.stdout).toContain(result.costs[prim].source);
    }
  });
});
