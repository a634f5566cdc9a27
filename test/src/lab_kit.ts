// A small kit for tests and benchmarks that drive a real lab through the vnetlab CLI.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: the nearest directory up from here that holds nx.json. */
function findRoot(from: string): string {
  for (let d = from; d !== dirname(d); d = dirname(d)) if (existsSync(join(d, 'nx.json'))) return d;
  throw new Error(`no nx.json above ${from}`);
}

export const repoRoot = findRoot(dirname(fileURLToPath(import.meta.url)));
export const cliPath = join(repoRoot, 'apps/controller/dist/cli.js');
export const example = (name: string) => join(repoRoot, 'examples', name);

export interface CliResult { code: number; stdout: string; stderr: string }

export function vnetlab(args: string[], opts: { labDir?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  const full = opts.labDir ? [...args, '--lab-dir', opts.labDir] : args;
  return new Promise((res) => {
    execFile(process.execPath, [cliPath, ...full], { timeout: opts.timeoutMs ?? 120_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      res({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

export async function vnetlabJson<T>(args: string[], labDir: string): Promise<T> {
  return parsed<T>(await vnetlab([...args, '--json'], { labDir }), args.join(' '));
}

/** A `--json` command's answer, or an error carrying what the command said on stderr. */
export function parsed<T>(r: CliResult, what: string): T {
  if (r.code !== 0) throw new Error(`vnetlab ${what} failed (exit ${r.code}): ${r.stderr.slice(-4000)}`);
  return JSON.parse(r.stdout) as T;
}

export interface LabInfo {
  name: string;
  natsUrl: string;
  controllerPid: number;
  natsPid?: number;
  prometheusUrl?: string;
  prometheusPid?: number;
  services: Array<{ name: string; kind: string; host?: string; pid?: number; httpPort: number; grpcAddr: string; metricsUrl: string; controlToken?: string }>;
}

/** Brings a lab up in a fresh lab directory; `down()` stops it and removes the directory. */
export async function startLab(file: string, upArgs: string[] = []): Promise<{ dir: string; lab: LabInfo; down: () => Promise<CliResult> }> {
  const dir = mkdtempSync(join(tmpdir(), 'vnetlab-test-'));
  const up = await vnetlab(['up', file, ...upArgs], { labDir: dir });
  if (up.code !== 0) {
    // the controller's log, and the last lines of each service it names as not healthy or exited
    const tail = (log: string, chars: number) => {
      try {
        return `--- ${log}\n${readFileSync(join(dir, 'logs', log), 'utf8').slice(-chars)}`;
      } catch {
        return '';
      }
    };
    const named = [...up.stderr.matchAll(/(?:not healthy after \d+ ms: ([^\n(]+))|(?:^|\s)([\w./-]+) exited with code/gm)]
      .flatMap((m) => (m[1] ?? m[2] ?? '').split(',').map((x) => x.trim()).filter(Boolean));
    const logs = [tail('controller.log', 4000), ...[...new Set(named)].map((n) => tail(`${n.replaceAll('/', '_')}.log`, 3000))].join('\n');
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`vnetlab up failed (${up.code}): ${up.stderr}\n${logs}`);
  }
  const lab = JSON.parse(readFileSync(join(dir, 'lab.json'), 'utf8')) as LabInfo;
  return {
    dir,
    lab,
    down: async () => {
      const r = await vnetlab(['down'], { labDir: dir });
      rmSync(dir, { recursive: true, force: true });
      return r;
    },
  };
}

/** Takes a lab down and holds `vnetlab down` to its word: it succeeds and leaves no process of the lab behind. */
export async function downLeavingNothing(lab: LabInfo, down: () => Promise<CliResult>): Promise<void> {
  const pids = [lab.controllerPid, lab.natsPid, ...lab.services.map((s) => s.pid)];
  const r = await down();
  if (r.code !== 0) throw new Error(`vnetlab down failed (${r.code}): ${r.stderr}`);
  const left = pids.filter((p) => alive(p));
  if (left.length > 0) throw new Error(`vnetlab down left processes behind: ${left.join(', ')}`);
}

export function alive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The value of one sample of a Prometheus text exposition (sum over matching label sets). */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  let found = false;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const ls = Object.fromEntries([...(m[3] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => ls[k] === v)) {
      sum += Number(m[4]);
      found = true;
    }
  }
  return found ? sum : NaN;
}

/** One flow's frames sent, delivered and dropped, summed over every service's /metrics (the conservation rule's terms). */
export async function flowTotals(lab: LabInfo, flow: string): Promise<{ sent: number; delivered: number; dropped: number }> {
  const t = { sent: 0, delivered: 0, dropped: 0 };
  for (const s of lab.services) {
    const text = await (await fetch(s.metricsUrl)).text();
    t.sent += metricValue(text, 'vnetlab_flow_sent_frames_total', { flow }) || 0;
    t.delivered += metricValue(text, 'vnetlab_flow_delivered_frames_total', { flow }) || 0;
    t.dropped += metricValue(text, 'vnetlab_flow_drops_total', { flow }) || 0;
  }
  return t;
}

/** A NATS user's name and password from the lab's nats-server configuration (the controller's by default). */
export function natsCredentials(dir: string, user = 'controller'): { user: string; pass: string } {
  const conf = readFileSync(join(dir, 'nats.conf'), 'utf8');
  const m = new RegExp(`user: ${JSON.stringify(user).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}, password: "([0-9a-f]+)"`).exec(conf);
  if (!m) throw new Error(`no NATS user ${user} in ${join(dir, 'nats.conf')}`);
  return { user, pass: m[1]! };
}
