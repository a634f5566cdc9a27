// Spawns Debian's nats-server with JetStream for a lab (the controller) or a test, and
// waits until it accepts clients.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdirSync, readFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { delimiter, join } from 'node:path';

/** nats-server could not be found or did not come up. */
export class NatsServerError extends Error {
  constructor(
    readonly reason: 'missing' | 'exited' | 'timeout',
    message: string,
  ) {
    super(message);
    this.name = 'NatsServerError';
  }
}

export interface NatsServerOptions {
  /** Client port; 0 or absent = a free port. */
  port?: number;
  /** JetStream store directory (-sd); created if missing. */
  storeDir: string;
  /** A nats-server configuration file (-c), e.g. with accounts. */
  configFile?: string;
  /**
   * The configuration file enables JetStream itself (`jetstream { store_dir }`), so no -js/-sd
   * flags: a server that has JetStream from its flags loses it when its configuration is
   * reloaded (reloadNatsServer).
   */
  jetstreamInConfig?: boolean;
  /** Address to listen on (default 127.0.0.1). */
  host?: string;
  user?: string;
  password?: string;
  /** How long to wait for the server to accept clients (default 10 s). */
  timeoutMs?: number;
  /** The nats-server binary (default: findNatsServer()). */
  binary?: string;
}

export interface NatsServerHandle {
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  readonly process: ChildProcess;
  /** Last lines nats-server wrote (for error reports). */
  output(): string;
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function defaultNatsServerPaths(): string[] {
  return [
    process.env['VNETLAB_NATS_SERVER'],
    '/usr/sbin/nats-server',
    '/usr/bin/nats-server',
    ...(process.env['PATH'] ?? '').split(delimiter).filter(Boolean).map((d) => join(d, 'nats-server')),
  ].filter((p): p is string => !!p);
}

/** Path of the nats-server binary: $VNETLAB_NATS_SERVER, /usr/sbin/nats-server, or on PATH. */
export function findNatsServer(candidates: readonly string[] = defaultNatsServerPaths()): string {
  const found = candidates.find(executable);
  if (!found) {
    throw new NatsServerError('missing', `nats-server not found (looked at ${candidates.join(', ')}): install it: apt-get install nats-server`);
  }
  return found;
}

/** Lowest port of the kernel's ephemeral range (outgoing connections take their local ports from it). */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 12_000 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

function listenOnce(host: string, port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(undefined));
    srv.listen(port, host, () => {
      const addr = srv.address();
      const got = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(got || undefined));
    });
  });
}

/**
 * A TCP port nobody listens on right now, to be bound a moment later by another process.
 * Chosen below the ephemeral range: a port from port 0 is ephemeral, and the lab's own many
 * outgoing NATS/gRPC connections could take it as their local port before the service binds it.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const high = ephemeralLow() - 1;
  const low = 10_000;
  for (let i = 0; i < 200; i++) {
    const port = await listenOnce(host, low + Math.floor(Math.random() * (high - low)));
    if (port) return port;
  }
  const any = await listenOnce(host, 0);
  if (!any) throw new Error(`no free TCP port on ${host}`);
  return any;
}

// Ready = a client connection gets the server's INFO line.
function probe(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ host, port });
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(500, () => done(false));
    sock.once('data', (d) => done(d.toString('utf8').startsWith('INFO')));
    sock.once('error', () => done(false));
  });
}

export async function startNatsServer(opts: NatsServerOptions): Promise<NatsServerHandle> {
  const bin = opts.binary !== undefined ? findNatsServer([opts.binary]) : findNatsServer();
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port && opts.port > 0 ? opts.port : await freePort(host);
  mkdirSync(opts.storeDir, { recursive: true });
  const args = ['-a', host, '-p', String(port), ...(opts.jetstreamInConfig && opts.configFile ? [] : ['-js', '-sd', opts.storeDir])];
  if (opts.configFile) args.push('-c', opts.configFile);
  if (opts.user !== undefined) args.push('--user', opts.user, '--pass', opts.password ?? '');
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let tail = '';
  const keep = (d: Buffer): void => {
    tail = (tail + d.toString('utf8')).slice(-4000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let exited: string | undefined;
  child.once('exit', (code, signal) => {
    exited = `code ${code} signal ${signal}`;
  });
  child.once('error', (e) => {
    exited = e.message;
  });

  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  for (;;) {
    if (exited !== undefined) {
      throw new NatsServerError('exited', `nats-server exited before accepting clients (${exited}): ${tail.trim()}`);
    }
    if (await probe(host, port)) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new NatsServerError('timeout', `nats-server did not accept clients on ${host}:${port} in time: ${tail.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `nats://${host}:${port}`,
    port,
    pid: child.pid!,
    process: child,
    output: () => tail,
  };
}

/** Stops the server (SIGTERM, then SIGKILL after `graceMs`) and waits until it has exited. */
export async function stopNatsServer(h: NatsServerHandle, graceMs = 5000): Promise<void> {
  const child = h.process;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await gone;
  clearTimeout(timer);
}

/**
 * Makes the server re-read its configuration file (SIGHUP), e.g. after the users' permissions
 * changed, and waits until it says it has: clients stay connected and get the new permissions.
 */
export async function reloadNatsServer(h: NatsServerHandle, timeoutMs = 10_000): Promise<void> {
  const LINE = /Reloaded server configuration/g;
  const before = h.output();
  const count = (s: string) => (s.match(LINE) ?? []).length;
  process.kill(h.pid, 'SIGHUP');
  const deadline = Date.now() + timeoutMs;
  // the output kept is a bounded tail: a new line shows as one more match, or as a tail that
  // moved on and ends with one
  const done = () => count(h.output()) > count(before) || (h.output() !== before && /Reloaded server configuration[^\n]*\n?$/.test(h.output().trimEnd()));
  while (!done()) {
    if (Date.now() > deadline) throw new NatsServerError('timeout', `nats-server did not reload its configuration in ${timeoutMs} ms: ${h.output().slice(-300).trim()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
