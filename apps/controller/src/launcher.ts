// Starts service processes, waits until they are healthy, and stops them.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '@vnetlab/runtime';
import type { ServicePlan } from './plan.js';
import { isAlive } from './labfile.js';

export function appEntry(kind: string): string {
  // apps/controller/dist/launcher.js → apps/<kind>/dist/main.js
  return fileURLToPath(new URL(`../../${kind}/dist/main.js`, import.meta.url));
}

export interface CommonArgs {
  topologyFile: string;
  natsUrl: string;
  labDir: string;
  peers: string[];       // arguments every service gets
}

export function serviceArgs(s: ServicePlan, c: CommonArgs): string[] {
  return [
    '--name', s.name,
    '--topology', c.topologyFile,
    '--nats-url', c.natsUrl,
    '--http-port', String(s.httpPort),
    '--grpc-port', String(s.grpcPort),
    '--lab-dir', c.labDir,
    ...c.peers,
    ...s.args,
  ];
}

/** Extra node flags for every service process (VNETLAB_NODE_ARGS), e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof". */
const nodeArgs = (): string[] => (process.env.VNETLAB_NODE_ARGS ?? '').split(' ').filter(Boolean);

export function spawnService(s: ServicePlan, c: CommonArgs): ChildProcess {
  const logs = join(c.labDir, 'logs');
  mkdirSync(logs, { recursive: true });
  const out = openSync(join(logs, `${s.name.replace(/\//g, '_')}.log`), 'a');
  return spawn(process.execPath, [...nodeArgs(), appEntry(s.kind), ...serviceArgs(s, c)], {
    stdio: ['ignore', out, out],
    env: { ...process.env, VNETLAB_SERVICE: s.kind },
  });
}

/** A host process (apps/host) running every service of one host from a plan file. */
export function spawnHost(host: string, planFile: string, labDir: string): ChildProcess {
  const logs = join(labDir, 'logs');
  mkdirSync(logs, { recursive: true });
  const out = openSync(join(logs, `${host}.log`), 'a');
  return spawn(process.execPath, [...nodeArgs(), appEntry('host'), '--plan', planFile], { stdio: ['ignore', out, out], env: process.env });
}

export async function freePorts(n: number): Promise<number[]> {
  const set = new Set<number>();
  while (set.size < n) set.add(await freePort());
  return [...set];
}

export async function healthy(httpPort: number): Promise<boolean> {
  return healthyAt(`http://127.0.0.1:${httpPort}/healthz`);
}

/** A service's /healthz answers 200 (a deployed service's is not on this machine). */
export async function healthyAt(url: string): Promise<boolean> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(1000) });
    return r.status === 200;
  } catch {
    return false;
  }
}

export async function waitHealthy(
  services: Array<{ name: string; httpPort: number; proc?: ChildProcess }>,
  timeoutMs: number,
  onProgress?: (ready: number, total: number) => void,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const pending = new Set(services);
  while (pending.size > 0) {
    for (const s of [...pending]) {
      if (s.proc && s.proc.exitCode !== null) throw new Error(`${s.name} exited with code ${s.proc.exitCode} (see its log)`);
      if (await healthy(s.httpPort)) pending.delete(s);
    }
    onProgress?.(services.length - pending.size, services.length);
    if (pending.size === 0) break;
    if (Date.now() > deadline) throw new Error(`not healthy after ${timeoutMs} ms: ${[...pending].map((s) => s.name).join(', ')}`);
    // each stage of start-up waits on this: a short poll of a local /healthz costs little
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** SIGTERM, then SIGKILL whatever is still there after graceMs. */
export async function stopPids(pids: number[], graceMs = 5000): Promise<void> {
  for (const pid of pids) { try { process.kill(pid, 'SIGTERM'); } catch { /* already gone */ } }
  const waitGone = async (ms: number) => {
    const deadline = Date.now() + ms;
    while (pids.some(isAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  };
  await waitGone(graceMs);
  for (const pid of pids.filter(isAlive)) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
  // SIGKILL is not instant for a process in the middle of a large exit (tmpfs unmaps, sockets).
  await waitGone(3000);
}
