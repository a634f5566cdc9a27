// Prometheus for a local lab: the controller writes the lab's scrape targets (file_sd) into
// the lab directory as soon as it knows the ports — so any Prometheus can follow the lab,
// e.g. one started with deploy/prometheus/prometheus.yml — and with `up --with-prometheus`
// it starts Debian's prometheus on that configuration.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, renameSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileSdPrometheusConfig, fileSdTargets, type ScrapeTarget } from './render/prometheus_config.js';

export const prometheusDir = (labDir: string) => join(labDir, 'prometheus');

/** Writes <lab>/prometheus/targets.json and a prometheus.yml that reads it. */
export function writePrometheusFiles(labDir: string, targets: ScrapeTarget[]): { config: string; targets: string } {
  const dir = prometheusDir(labDir);
  mkdirSync(dir, { recursive: true });
  const t = join(dir, 'targets.json');
  const tmp = t + '.tmp';
  // file_sd re-reads the file on change: it must never see half of it
  writeFileSync(tmp, fileSdTargets(targets));
  renameSync(tmp, t);
  const config = join(dir, 'prometheus.yml');
  writeFileSync(config, fileSdPrometheusConfig(['targets.json'], `Prometheus for the local lab in ${labDir}, written by the controller.`));
  return { config, targets: t };
}

export class PrometheusNotFound extends Error {
  constructor() {
    super('prometheus is not installed (Debian: apt-get install prometheus; scripts/setup.sh does it)');
    this.name = 'PrometheusNotFound';
  }
}

export function findPrometheus(): string {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/bin', '/usr/local/bin'];
  for (const d of dirs) if (d && existsSync(join(d, 'prometheus'))) return join(d, 'prometheus');
  throw new PrometheusNotFound();
}

export interface PrometheusHandle { pid: number; url: string }

/** Starts prometheus on the lab's config, listening on 127.0.0.1:port; resolves once it is ready. */
export async function startPrometheus(labDir: string, configFile: string, port: number, timeoutMs = 30_000): Promise<PrometheusHandle> {
  const bin = findPrometheus();
  const dir = prometheusDir(labDir);
  const log = openSync(join(labDir, 'logs', 'prometheus.log'), 'a');
  const p = spawn(bin, [
    `--config.file=${configFile}`,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--storage.tsdb.retention.time=1d',
  ], { stdio: ['ignore', log, log], detached: true });
  p.unref();
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (p.exitCode !== null) throw new Error(`prometheus exited with code ${p.exitCode} (see logs/prometheus.log)`);
    try {
      const r = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1000) });
      if (r.ok) return { pid: p.pid!, url };
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) {
      p.kill('SIGKILL');
      throw new Error(`prometheus not ready after ${timeoutMs} ms (see logs/prometheus.log)`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}
