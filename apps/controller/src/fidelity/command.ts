// vnetlab fidelity: sets up the published configurations, runs them, and writes the report.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_COSTS } from '@vnetlab/cost';
import type { FlagSpec } from '../args.js';
import { cliLabDriver } from '../compare/command.js';
import { runSweep, type SweepOptions } from '../compare/compare_sweep.js';
import { labDir } from '../labfile.js';
import { pointFigures } from '../compare/compare_figures.js';
import type { LabDriver } from '../compare/compare_sweep.js';
import { DUT_HOST, DUT_HZ, EMMERICH_PATHS, EMMERICH_SWITCHES, PATH_LABEL, SMALL_PAYLOAD, emmerichPlan, emmerichPoint, emmerichRows, emmerichTopologyText, type EmmerichPoint } from './emmerich.js';
import { constantRows, fidelityMarkdown, menonDom0Rows, menonReceiveRows, menonRows, nativeRow, rixnerRows, type FidelityRow } from './fidelity_report.js';

type Out = (s: string) => void;

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');

export const FIDELITY_FLAGS: FlagSpec[] = [
  { name: 'quick', type: 'boolean', help: 'small guest counts and transfers (a few minutes); the full run sweeps 1..24 guests' },
  { name: 'out', type: 'string', help: 'where to write the report', default: join(repoRoot, 'docs', 'fidelity.md') },
  { name: 'timeout', type: 'number', help: 'seconds to wait for each lab to come up', default: 180 },
  { name: 'only', type: 'string', help: 'run only these experiments, comma-separated (rixner, native, menon, emmerich); default all' },
];

const EXPERIMENTS = ['rixner', 'native', 'menon', 'emmerich'] as const;

/**
 * The machine of Rixner's figure (the CDNA prototype, Willmann et al., HPCA 2007): one 2.4 GHz
 * Opteron shared by the driver domain, the hypervisor and every guest. The Queue article
 * gives no CPU; the report says which one the lab uses.
 */
const RIXNER_CPU = { cpus: 1, hz: 2.4e9 };

export async function cmdFidelity(pos: string[], f: Record<string, unknown>, out: Out, err: Out): Promise<number> {
  if (pos.length) throw new Error(`fidelity takes no positional arguments (got ${pos.join(' ')})`);
  const quick = !!f.quick;
  const lab = cliLabDriver(join(labDir(f['lab-dir'] as string), 'fidelity'), f.timeout as number);
  const base: Omit<SweepOptions, 'archs' | 'guests' | 'nics'> = { cpus: 4, hz: 2.8e9, proto: 'udp', direction: 'tx', bytesPerGuest: quick ? 200_000 : 1_000_000, msgSize: 1472 };
  const rows: FidelityRow[] = [];
  const only = f.only === undefined ? [...EXPERIMENTS] : String(f.only).split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = only.filter((x) => !(EXPERIMENTS as readonly string[]).includes(x));
  if (unknown.length) throw new Error(`--only: unknown experiment ${unknown.join(', ')} (one of ${EXPERIMENTS.join(', ')})`);
  const skippedLines = (r: { skipped: Array<{ arch: string; guests?: number; reason: string }> }) => {
    for (const s of r.skipped) err(`  skipped ${s.arch}${s.guests ? ` × ${s.guests}` : ''}: ${s.reason}`);
  };

  if (only.includes('rixner')) {
    err('fidelity: Rixner 2008 — Xen driver domain vs CDNA, two gigabit NICs, one 2.4 GHz CPU');
    const rixner = await runSweep({ ...base, ...RIXNER_CPU, archs: ['pv', 'cdna'], guests: quick ? [1, 2, 4] : [1, 2, 4, 8, 16, 24], nics: 2 }, lab, (l) => err(`  ${l}`));
    rows.push(...rixnerRows(rixner.points.filter((p) => p.arch === 'pv'), rixner.points.filter((p) => p.arch === 'cdna'), RIXNER_CPU));
    skippedLines(rixner);
  }

  if (only.includes('native')) {
    err('fidelity: Xen guest vs native');
    const nat = await runSweep({ ...base, archs: ['pv', 'native'], guests: [1], nics: 1 }, lab, (l) => err(`  ${l}`));
    const pv1 = nat.points.find((p) => p.arch === 'pv');
    const n1 = nat.points.find((p) => p.arch === 'native');
    if (pv1 && n1) rows.push(nativeRow(pv1, n1));
  }

  if (only.includes('menon')) {
    // one guest sending TCP, as Menon's transmit experiment; the NIC (an e1000 there) has
    // checksum offload and TSO. The original is Xen 2.0's path (TX pages grant-mapped into
    // dom0, no virtual offloads); then each optimization alone, and all together
    err('fidelity: Menon 2006 — guest transmit: virtual checksum offload, TSO, TX without remapping');
    const tcp = { ...base, proto: 'tcp' as const, guests: [1], nics: 1, bytesPerGuest: quick ? 1_000_000 : 4_000_000 };
    const withNic = await runSweep({ ...tcp, archs: ['pv-map', 'pv-map+csum', 'pv-map+tso', 'pv+noremap', 'pv-map+super', 'pv+csum+tso+noremap+super', 'pv'], nicOffload: { csum: true, tso: true } }, lab, (l) => err(`  ${l}`));
    skippedLines(withNic);
    const noNic = await runSweep({ ...tcp, archs: ['pv+csum+tso+noremap+super'], nicOffload: { csum: false, tso: false } }, lab, (l) => err(`  ${l} (NIC without offloads)`));
    skippedLines(noNic);
    const at = (label: string) => withNic.points.find((p) => p.arch === label);
    const original = at('pv-map');
    if (original) rows.push(...menonRows({ original, csum: at('pv-map+csum'), tso: at('pv-map+tso'), noremap: at('pv+noremap'), superpages: at('pv-map+super'), all: at('pv+csum+tso+noremap+super'), allNoNicOffload: noNic.points[0], copy: at('pv') }));

    // guest receive: Xen 2.0 flipped pages into 4 KB-mapped guests, the optimized path copies
    // into guests with superpages; the driver domain receiving itself, before and after
    // superpages; native for scale
    err('fidelity: Menon 2006 — guest and driver-domain receive: page flip vs copy with superpages, dom0, and native');
    const rx = await runSweep({ ...tcp, direction: 'rx', archs: ['pv-flip', 'pv+super', 'dom0', 'dom0+super', 'native'], nicOffload: { csum: true, tso: true } }, lab, (l) => err(`  ${l}`));
    skippedLines(rx);
    const rxAt = (label: string) => rx.points.find((p) => p.arch === label);
    const flip = rxAt('pv-flip');
    const copy = rxAt('pv+super');
    if (flip && copy) rows.push(...menonReceiveRows(flip, copy, rxAt('native')));
    const d0 = rxAt('dom0');
    const d0s = rxAt('dom0+super');
    if (d0 && d0s) rows.push(...menonDom0Rows(d0, d0s, rxAt('native')));
  }

  if (only.includes('emmerich')) {
    err('fidelity: Emmerich 2014 Table I — one switch core, four paths, Open vSwitch and Linux bridge');
    const points = await runEmmerich(lab, quick ? 3_000 : 12_000, (l) => err(`  ${l}`));
    rows.push(...emmerichRows(points));
  }

  rows.push(...constantRows(DEFAULT_COSTS, 2.8e9));
  const md = fidelityMarkdown(rows, { generated: new Date().toISOString().slice(0, 10), command: `vnetlab fidelity${quick ? ' --quick' : ''}` });
  const file = resolve(String(f.out));
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, md);
  out(md);
  err(`fidelity: wrote ${file}`);
  return 0;
}

/**
 * Every (switch, path) point of Emmerich's Table I: a lab each, `packets` minimum-size UDP
 * datagrams from the generator, the DUT's cores measured over the run.
 */
export async function runEmmerich(lab: LabDriver, packets: number, progress: (l: string) => void): Promise<EmmerichPoint[]> {
  const points: EmmerichPoint[] = [];
  const total = EMMERICH_SWITCHES.length * EMMERICH_PATHS.length;
  let i = 0;
  for (const sw of EMMERICH_SWITCHES) {
    for (const path of EMMERICH_PATHS) {
      const tag = `[${++i}/${total}] ${sw} ${PATH_LABEL[path]}`;
      const plan = emmerichPlan(path, sw);
      const t0 = Date.now();
      const up = await lab.up(plan.name, emmerichTopologyText(plan));
      if (!up.ok) {
        progress(`${tag}: skipped — the lab refused to start it: ${up.error}`);
        continue;
      }
      try {
        const r = await lab.traffic({ pairs: [plan.pair], proto: 'udp', bytes: packets * SMALL_PAYLOAD, msgSize: SMALL_PAYLOAD });
        const cpus = (plan.topology.hosts as Array<{ name: string; cpus: { count: number } }>).find((h) => h.name === DUT_HOST)!.cpus.count;
        const fig = pointFigures(r, { arch: `${sw} ${path}`, guests: plan.vms.length, sutHost: DUT_HOST, sutGuests: plan.vms, cpuCount: cpus, wireBps: 10e9 });
        const p = emmerichPoint(path, sw, fig, r.ledger, DUT_HZ);
        points.push(p);
        progress(`${tag}: switch core ${p.switchCoreMpps.toFixed(2)} Mpps (${Math.round(p.switchCore.cyclesPerPacket)} cycles/packet), end to end ${p.deliveredMpps.toFixed(2)} Mpps, ${p.packets} packets (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      } catch (e) {
        progress(`${tag}: failed — ${(e as Error).message}`);
      } finally {
        await lab.down();
      }
    }
  }
  return points;
}
