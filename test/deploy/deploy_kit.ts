// Shared by the deploy tests: where the checked-in deploy files are, and running a tool.
import { execFile } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { repoRoot } from '../src/lab_kit.js';

export const deployDir = join(repoRoot, 'deploy');

export interface ToolResult { code: number; stdout: string; stderr: string }

export function run(cmd: string, args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): Promise<ToolResult> {
  return new Promise((res) => {
    execFile(cmd, args, { cwd: opts.cwd ?? repoRoot, timeout: opts.timeoutMs ?? 60_000, maxBuffer: 32 << 20 }, (err, stdout, stderr) => {
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
