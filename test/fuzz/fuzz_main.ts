// `npm run fuzz`: brings up a lab (examples/architectures.yaml unless a file is given), runs the
// fuzzer with many iterations and a progress line, prints the report and brings the lab down.
//   node test/dist/fuzz/fuzz_main.js [TOPOLOGY] [--lab-dir DIR (a running lab: not started or stopped)]
//   env: VNETLAB_FUZZ_ITERATIONS (default 20000), VNETLAB_FUZZ_SEED (default: a fresh one, printed),
//   VNETLAB_FUZZ_ONLY (a regular expression: only the subjects and "<service> <method path>"s it matches)
import { example, startLab } from '../src/lab_kit.js';
import { formatReport, runFuzz } from './fuzzer.js';

const args = process.argv.slice(2);
const flag = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args.splice(i, 2)[1] : undefined;
};
const labDir = flag('--lab-dir');
const iterations = Number(flag('--iterations') ?? process.env.VNETLAB_FUZZ_ITERATIONS ?? 20_000);
const seedText = flag('--seed') ?? process.env.VNETLAB_FUZZ_SEED;
const only = flag('--only') ?? process.env.VNETLAB_FUZZ_ONLY;
const topology = args[0] ?? example('architectures.yaml');
if (!Number.isInteger(iterations) || iterations < 1) {
  process.stderr.write(`VNETLAB_FUZZ_ITERATIONS must be a positive integer, got ${iterations}\n`);
  process.exit(2);
}

let down: (() => Promise<unknown>) | undefined;
let dir = labDir;
if (!dir) {
  process.stderr.write(`starting ${topology}…\n`);
  const lab = await startLab(topology);
  dir = lab.dir;
  down = lab.down;
}
let code = 1;
try {
  const report = await runFuzz(dir, {
    iterations,
    ...(seedText !== undefined ? { seed: Number(seedText) } : {}),
    ...(only ? { only: new RegExp(only) } : {}),
    progressEvery: Math.max(100, Math.floor(iterations / 40)),
    onProgress: (line) => process.stderr.write(line + '\n'),
    log: (line) => process.stderr.write(line + '\n'),
  });
  process.stdout.write(formatReport(report) + '\n');
  code = report.problems.length === 0 ? 0 : 1;
} catch (e) {
  process.stderr.write(`fuzz failed: ${(e as Error).stack}\n`);
} finally {
  if (down) await down();
}
process.exit(code);
