// Shared by the deploy tests: where the checked-in deploy files are, and running a tool.
import { execFile } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { repoRoot } from '../src/lab_kit.js';

export const deployDir = join(repoRoot, 'deploy');

export interface ToolResult { code: number; stdout: string; stderr: string }

export function run(cmd: string, args: string[], opts: { cwd?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<ToolResult> {
  return new Promise((res) => {
    execFile(cmd, args, { cwd: opts.cwd ?? repoRoot, env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 60_000, maxBuffer: 32 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 127) : 0;
      res({ code, stdout: String(stdout), stderr: String(stderr) + (err && typeof err.code !== 'number' ? String(err.message) : '') });
    });
  });
}

/** Every file under dir, as paths relative to it, sorted. */
export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out.sort();
}

/** The image the Docker tests run (docker build -t vnetlab . in the repository). */
export const vnetlabImage = process.env.VNETLAB_IMAGE ?? 'vnetlab:latest';

export const firstLine = (r: ToolResult) => (r.stderr || r.stdout).trim().split('\n')[0];

export const imagePresent = async (ref: string) => (await run('docker', ['image', 'inspect', ref], { timeoutMs: 20_000 })).code === 0;

/**
 * Why this machine cannot run the vnetlab image (undefined: it can). A test file skips on
 * it and says so; with VNETLAB_REQUIRE_DOCKER=1 (CI that has Docker) it fails instead.
 */
export async function dockerMissing(testFile: string, needCompose = false): Promise<string | undefined> {
  const info = await run('docker', ['info', '--format', '{{.ServerVersion}}'], { timeoutMs: 20_000 });
  let why: string | undefined;
  if (info.code !== 0) why = `no Docker engine answers (docker info: ${firstLine(info)})`;
  else if (needCompose && (await run('docker-compose', ['version'])).code !== 0) why = 'no docker-compose (Debian: apt-get install docker-compose)';
  else if (!(await imagePresent(vnetlabImage))) why = `no image ${vnetlabImage}: build it with \`docker build -t vnetlab .\` (scripts/base-image.sh first where Docker Hub is unreachable)`;
  if (why && process.env.VNETLAB_REQUIRE_DOCKER === '1') throw new Error(`VNETLAB_REQUIRE_DOCKER=1 but ${why}`);
  if (why) console.warn(`${testFile} SKIPPED: ${why}`);
  return why;
}
