// The fuzzer against examples/architectures.yaml: every NATS subject and every gRPC method of
// the running lab gets garbage and hostile messages; afterwards every service is alive and
// healthy, counted what it refused, and the lab still pings and moves a UDP bulk.
// VNETLAB_FUZZ_ITERATIONS sets the barrage's size (default 3000); VNETLAB_FUZZ_SEED repeats one.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SUBJECT_CATALOGUE } from '@vnetlab/proto';
import { example, startLab } from '../src/lab_kit.js';
import { formatReport, runFuzz, type FuzzReport } from './fuzzer.js';
import { allServiceDefinitions, EXCLUDED, SERVED } from './grpc_targets.js';

const iterations = Number(process.env.VNETLAB_FUZZ_ITERATIONS ?? 3000);
const seed = process.env.VNETLAB_FUZZ_SEED !== undefined ? Number(process.env.VNETLAB_FUZZ_SEED) : undefined;

describe('the fuzzer\'s reach', () => {
  it('knows where every generated gRPC service is served, and every method is fuzzed but Shutdown', () => {
    const served = new Set(Object.values(SERVED).flat());
    const missing = allServiceDefinitions().filter((d) => !served.has(d.def));
    expect(missing.map((d) => d.name)).toEqual([]);
    const excluded = allServiceDefinitions().flatMap((d) => Object.values(d.def).map((m) => m.path)).filter((p) => EXCLUDED.has(p));
    expect(excluded).toEqual(['/vnetlab.control.v1.Operator/Shutdown']);
  });
});

describe('a fuzzed lab (examples/architectures.yaml)', () => {
  let dir: string;
  let down: () => Promise<unknown>;
  let report: FuzzReport;

  beforeAll(async () => {
    ({ dir, down } = await startLab(example('architectures.yaml')));
    report = await runFuzz(dir, { iterations, ...(seed !== undefined ? { seed } : {}) });
    process.stdout.write(formatReport(report) + '\n');
  });

  afterAll(async () => {
    await down?.();
  });

  it('sent to every subject of the catalogue and to every gRPC method of every service', () => {
    expect(report.iterations).toBe(iterations);
    // instantiated for the lab's hosts, NICs and domids (runFuzz refuses a pattern it cannot fill)
    expect(report.subjects).toBeGreaterThanOrEqual(SUBJECT_CATALOGUE.length);
    expect(report.nats.sent).toBeGreaterThan(0);
    expect(report.grpc.calls).toBeGreaterThan(0);
  });

  it('every service survived, counted the garbage it got, and the lab still pings and balances a UDP bulk', () => {
    expect(report.problems, `seed ${report.seed}:\n${formatReport(report)}`).toEqual([]);
    expect(report.checks.some((c) => c.includes('across hosts'))).toBe(true);
    expect(report.checks.some((c) => c.includes('within a host'))).toBe(true);
    expect(report.checks.some((c) => c.startsWith('udp bulk'))).toBe(true);
  });
});
