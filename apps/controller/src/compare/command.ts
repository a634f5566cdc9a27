// `vnetlab compare` and `vnetlab explain`: the sweep over architectures and guest counts, and
// the per-primitive "why" read back from its compare.json.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError, type FlagSpec } from '../args.js';
import { isAlive, labDir, readLab } from '../labfile.js';
import { OperatorApi } from '../operator_client.js';
import { CompareError, type Direction } from './compare_topology.js';
import { breakdownTable, cpuSvg, explainTable, largestPerArch, sourcesTable, summaryTable, throughputSvg, type CompareResult } from './compare_report.js';
import { costSources, runSweep, type LabDriver, type SweepOptions } from './compare_sweep.js';

type Out = (s: string) => void;

const cliPath = fileURLToPath(new URL('../cli.js', import.meta.url));

export const COMPARE_FLAGS: FlagSpec[] = [
  { name: 'arch', type: 'string', help: 'architectures to compare, comma-separated (pv, pv-flip, multiqueue, cdna, passthrough, native, emulated; pv\'s virtual offloads as pv+csum, pv+tso, pv+csum+tso; transmit without remapping as pv+noremap, Menon\'s remapping baseline as pv-map; +super on any Xen architecture maps the guests\' and dom0\'s kernels with superpages; dom0 (with --direction rx --guests 1) makes the driver domain itself the receiver)', default: 'pv,multiqueue' },
  { name: 'nic-offload', type: 'string', help: 'what the SUT\'s NICs offload on transmit: none, csum, tso or csum,tso', default: 'none' },
  { name: 'guests', type: 'string', help: 'guest counts, comma-separated', default: '1,2,4,8' },
  { name: 'nics', type: 'number', help: '1 Gb/s NICs on the system under test (guests spread over them)', default: 1 },
  { name: 'cpus', type: 'number', help: 'physical CPUs of the system under test (dom0 on cpu0, guests spread over the rest)', default: 4 },
  { name: 'hz', type: 'number', help: 'clock rate of its CPUs', default: 2.8e9 },
  { name: 'proto', type: 'string', help: 'udp or tcp', default: 'udp' },
  { name: 'direction', type: 'string', help: 'tx (the guests send) or rx (they receive)', default: 'tx' },
  { name: 'bytes-per-guest', type: 'number', help: 'payload bytes each guest sends or receives', default: 1_000_000 },
  { name: 'msg-size', type: 'number', help: 'payload bytes per datagram (udp)', default: 1472 },
  { name: 'out', type: 'string', help: 'directory for compare.json, throughput.svg and cpu.svg', default: 'compare-out' },
  { name: 'timeout', type: 'number', help: 'seconds to wait for each lab to come up', default: 120 },
  { name: 'json', type: 'boolean', help: 'print the result as JSON (progress goes to stderr)' },
];

export const EXPLAIN_FLAGS: FlagSpec[] = [
  { name: 'out', type: 'string', help: 'the directory a compare run wrote (its compare.json)', default: 'compare-out' },
  { name: 'sources', type: 'boolean', help: 'also show each primitive\'s cost and its published source' },
  { name: 'arch', type: 'string', help: 'show the detailed breakdown of these architectures only (comma-separated)' },
  { name: 'json', type: 'boolean', help: 'print the breakdown as JSON' },
];

function list(v: unknown, what: string): string[] {
  const items = String(v).split(',').map((s) => s.trim()).filter(Boolean);
  if (items.length === 0) throw new UsageError(`--${what} needs a comma-separated list`);
  return items;
}

function counts(v: unknown): number[] {
  return list(v, 'guests').map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`--guests: "${s}" is not a guest count (an integer >= 1)`);
    return n;
  });
}

/** `--nic-offload`: none, or a comma-separated subset of csum, tso. */
function nicOffload(v: unknown): { csum: boolean; tso: boolean } {
  const items = String(v ?? 'none').split(',').map((s) => s.trim()).filter(Boolean);
  if (items.length === 1 && items[0] === 'none') return { csum: false, tso: false };
  const bad = items.filter((i) => i !== 'csum' && i !== 'tso');
  if (bad.length || items.length === 0) throw new UsageError(`--nic-offload: "${String(v)}" is not none or a list of csum, tso`);
  return { csum: items.includes('csum'), tso: items.includes('tso') };
}

const lastLine = (s: string) => s.split('\n').map((l) => l.trim()).filter(Boolean).pop() ?? '';

function runCli(args: string[], timeoutMs: number): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    execFile(process.execPath, [cliPath, ...args], { timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      res({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** Drives labs through this CLI in host mode, in a lab directory of the sweep's own. */
export function cliLabDriver(dir: string, upTimeoutS: number): LabDriver {
  mkdirSync(dir, { recursive: true });
  return {
    async up(name, text) {
      const file = join(dir, `${name}.yaml`);
      writeFileSync(file, text);
      const r = await runCli(['up', file, '--mode', 'host', '--lab-dir', dir, '--timeout', String(upTimeoutS), '--json'], (upTimeoutS + 30) * 1000);
      if (r.code !== 0) {
        await runCli(['down', '--lab-dir', dir], 60_000);
        return { ok: false, error: lastLine(r.stderr) || `vnetlab up exited with ${r.code}` };
      }
      return { ok: true };
    },
    async traffic(req) {
      const lab = readLab(dir);
      if (!lab) throw new Error(`no lab in ${dir}`);
      const api = new OperatorApi(lab.operatorAddr);
      try {
        return await api.traffic({ pairs: req.pairs, proto: req.proto, bytes: req.bytes, msgSize: req.msgSize });
      } finally {
        api.close();
      }
    },
    async down() {
      const r = await runCli(['down', '--lab-dir', dir], 60_000);
      if (r.code !== 0) throw new Error(`vnetlab down failed: ${lastLine(r.stderr)}`);
    },
  };
}

export function writeOutputs(dir: string, r: CompareResult): string[] {
  mkdirSync(dir, { recursive: true });
  const files = [
    [join(dir, 'compare.json'), JSON.stringify(r, null, 2) + '\n'],
    [join(dir, 'throughput.svg'), throughputSvg(r)],
    [join(dir, 'cpu.svg'), cpuSvg(r)],
  ] as const;
  for (const [f, text] of files) writeFileSync(f, text);
  return files.map(([f]) => f);
}

export async function cmdCompare(pos: string[], f: Record<string, unknown>, out: Out, err: Out): Promise<number> {
  if (pos.length) throw new UsageError(`compare takes no positional arguments (got ${pos.join(' ')})`);
  const proto = String(f.proto);
  if (proto !== 'udp' && proto !== 'tcp') throw new UsageError(`--proto must be udp or tcp, got "${proto}"`);
  const direction = String(f.direction);
  if (direction !== 'tx' && direction !== 'rx') throw new UsageError(`--direction must be tx or rx, got "${direction}"`);
  const opts: SweepOptions = {
    archs: list(f.arch, 'arch'),
    guests: counts(f.guests),
    nics: f.nics as number,
    cpus: f.cpus as number,
    hz: f.hz as number,
    proto,
    direction: direction as Direction,
    bytesPerGuest: f['bytes-per-guest'] as number,
    msgSize: f['msg-size'] as number,
    nicOffload: nicOffload(f['nic-offload']),
  };
  // The sweep's labs live beside the operator's own lab, never in it.
  const dir = join(labDir(f['lab-dir'] as string), 'compare');
  const stale = readLab(dir);
  if (stale && isAlive(stale.controllerPid)) await runCli(['down', '--lab-dir', dir], 60_000);
  let result: CompareResult;
  try {
    result = await runSweep(opts, cliLabDriver(dir, f.timeout as number), err);
  } catch (e) {
    if (e instanceof CompareError) throw new UsageError(e.message);
    throw e;
  }
  const outDir = resolve(String(f.out));
  const files = writeOutputs(outDir, result);
  if (f.json) {
    out(JSON.stringify(result, null, 2));
  } else {
    out(`${proto.toUpperCase()}, guests ${direction === 'tx' ? 'sending' : 'receiving'} ${opts.bytesPerGuest} bytes each, all at once; system under test: ${opts.cpus} CPU${opts.cpus === 1 ? '' : 's'} at ${(opts.hz / 1e9).toFixed(2)} GHz, ${opts.nics} × 1 Gb/s NIC${opts.nics > 1 ? 's' : ''}`);
    out('CPU columns are CPUs of the system under test (they add up to its CPU count); cycles/pkt is every cycle it spent per delivered packet.');
    out('');
    out(result.points.length ? summaryTable(result.points) : '(no point ran)');
    if (result.points.length) {
      out('');
      out('Why: cycles per packet by primitive operation (each architecture at its largest guest count; `vnetlab explain` for more)');
      out(explainTable(result.points, { minCycles: 20 }));
    }
    for (const s of result.skipped) out(`skipped ${s.arch}${s.guests ? ` × ${s.guests}` : ''}: ${s.reason}`);
    out('');
    out(`wrote ${files.join(', ')}`);
  }
  return result.points.length ? 0 : 1;
}

export async function cmdExplain(pos: string[], f: Record<string, unknown>, out: Out): Promise<number> {
  if (pos.length > 1) throw new UsageError('explain takes at most one DIR (a compare output directory)');
  const dir = resolve(pos[0] ?? String(f.out));
  const file = join(dir, 'compare.json');
  if (!existsSync(file)) {
    if (f.sources) {
      // nothing measured yet: the cost table itself is still worth showing
      out('Cost of each primitive operation (libs/cost DEFAULT_COSTS):');
      out(sourcesTable(costSources()));
      return 0;
    }
    throw new UsageError(`no compare.json in ${dir}; run: vnetlab compare --out ${dir}`);
  }
  let r: CompareResult;
  try {
    r = JSON.parse(readFileSync(file, 'utf8')) as CompareResult;
    if (!Array.isArray(r.points)) throw new Error('no points');
  } catch (e) {
    throw new UsageError(`${file} is not a compare result: ${(e as Error).message}`);
  }
  if (r.points.length === 0) throw new UsageError(`${file} holds no measured point`);
  const want = f.arch ? new Set(list(f.arch, 'arch')) : undefined;
  const cols = largestPerArch(r.points).filter((p) => !want || want.has(p.arch));
  if (want && cols.length === 0) throw new UsageError(`no architecture ${[...want].join(', ')} in ${file} (it has ${[...new Set(r.points.map((p) => p.arch))].join(', ')})`);
  const costs = Object.keys(r.costs ?? {}).length ? r.costs : costSources();
  if (f.json) {
    out(JSON.stringify(cols.map((p) => ({ arch: p.arch, guests: p.guests, cyclesPerPacket: p.cyclesPerPacket, byGroup: p.cyclesPerPacketByGroup, breakdown: p.breakdown.map((b) => ({ ...b, ...(f.sources ? { cost: costs[b.primitive] } : {}) })) })), null, 2));
    return 0;
  }
  out(`${r.setup.proto.toUpperCase()} ${r.setup.direction}, ${r.setup.cpus} CPU(s), ${r.setup.nics} NIC(s) — cycles the system under test spent per delivered packet`);
  out('');
  out(explainTable(cols));
  for (const p of cols) {
    out('');
    out(`${p.arch}, ${p.guests} guest${p.guests === 1 ? '' : 's'}: ${Math.round(p.cyclesPerPacket)} cycles per packet, throughput ${(p.throughputBps / 1e6).toFixed(1)} Mb/s`);
    out(breakdownTable(p, { costs }));
  }
  if (f.sources) {
    const prims = [...new Set(cols.flatMap((p) => p.breakdown.map((b) => b.primitive)))].sort();
    out('');
    out('Where each primitive\'s cost comes from (libs/cost DEFAULT_COSTS; docs/costs.md):');
    out(sourcesTable(costs, prims));
  }
  return 0;
}
