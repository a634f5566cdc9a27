// Configuration of a service from its command line and the VNETLAB_* environment.
// Flags win over the environment, the environment over defaults, so that the controller
// can start a process with flags while compose/Kubernetes set env vars.
import { resolve } from 'node:path';

/** A flag or variable the service cannot make sense of. */
export class ConfigError extends Error {
  constructor(
    readonly reason: 'unknown_flag' | 'missing_value' | 'bad_value',
    readonly option: string,
    message: string,
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** An option of one app, beyond the common ones. */
export interface OptionSpec {
  /** One line for --help. */
  help: string;
  /** Type of the value; 'boolean' flags take no value (`--flag` or `--flag=false`). */
  type?: 'string' | 'number' | 'boolean';
  /** Value when neither flag nor env var is given. */
  default?: string | number | boolean;
}

export interface ServiceSpec {
  /** Service kind: hypervisor, driver-domain, guest, nic, fabric, controller, ... */
  kind: string;
  /** One line saying what the service models, for --help. */
  description?: string;
  /** App-specific options, by flag name without dashes (e.g. 'arch' for --arch). */
  options?: Record<string, OptionSpec>;
}

export interface ServiceConfig {
  kind: string;
  /** Service name, unique in the lab (default: `<kind>-<host>`). */
  name: string;
  /** Modelled host the service belongs to. */
  host: string;
  natsUrl: string;
  natsUser?: string;
  natsPassword?: string;
  /**
   * The token every call to this service's control plane must carry (control_auth.ts),
   * handed to it by the toolstack; none: its control plane takes any call.
   */
  controlToken?: string;
  /** Port of /metrics and /healthz; 0 = any free port. */
  httpPort: number;
  /** Port of the gRPC server; 0 = any free port. */
  grpcPort: number;
  /** Address both servers bind to. */
  bindAddress: string;
  /** Directory of the lab's files (machine memory, logs, captures); absolute. */
  labDir: string;
  /** Values of the app-specific options. */
  options: Record<string, string | number | boolean>;
}

interface CommonOption extends OptionSpec {
  key: keyof Omit<ServiceConfig, 'kind' | 'options'>;
}

const COMMON: Record<string, CommonOption> = {
  name: { key: 'name', help: 'service name, unique in the lab (default <kind>-<host>)' },
  host: { key: 'host', help: 'modelled host this service belongs to', default: 'h1' },
  'nats-url': { key: 'natsUrl', help: 'NATS server URL', default: 'nats://127.0.0.1:4222' },
  'nats-user': { key: 'natsUser', help: 'NATS user name' },
  'nats-password': { key: 'natsPassword', help: 'NATS password' },
  'control-token': { key: 'controlToken', help: "token a call to this service's gRPC control plane must carry (none: no check)" },
  'http-port': { key: 'httpPort', help: 'port of /metrics and /healthz (0: any free port)', type: 'number', default: 0 },
  'grpc-port': { key: 'grpcPort', help: 'port of the gRPC server (0: any free port)', type: 'number', default: 0 },
  bind: { key: 'bindAddress', help: 'address the HTTP and gRPC servers bind to', default: '127.0.0.1' },
  'lab-dir': { key: 'labDir', help: "directory of the lab's files", default: '.vnetlab' },
};

/** VNETLAB_NATS_URL for --nats-url. */
export function envName(flag: string): string {
  return 'VNETLAB_' + flag.toUpperCase().replace(/-/g, '_');
}

function convert(flag: string, spec: OptionSpec, raw: string | boolean): string | number | boolean {
  const type = spec.type ?? 'string';
  if (type === 'boolean') {
    if (raw === true || raw === 'true' || raw === '1') return true;
    if (raw === 'false' || raw === '0') return false;
    throw new ConfigError('bad_value', flag, `--${flag} takes true or false, not ${JSON.stringify(raw)}`);
  }
  if (typeof raw !== 'string') throw new ConfigError('missing_value', flag, `--${flag} needs a value`);
  if (type === 'number') {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n)) {
      throw new ConfigError('bad_value', flag, `--${flag} takes a number, not ${JSON.stringify(raw)}`);
    }
    return n;
  }
  return raw;
}

/** The --help text of a service. */
export function serviceUsage(spec: ServiceSpec): string {
  const lines = [`usage: vnetlab-${spec.kind} [options]`];
  if (spec.description) lines.push('', spec.description);
  const all: Record<string, OptionSpec> = { ...COMMON, ...(spec.options ?? {}) };
  lines.push('', 'options (each also read from the environment variable shown):');
  for (const [flag, o] of Object.entries(all)) {
    const value = o.type === 'boolean' ? '' : ' <value>';
    const def = o.default !== undefined ? ` (default ${String(o.default)})` : '';
    lines.push(`  --${flag}${value}`.padEnd(30) + ` ${o.help}${def}  [${envName(flag)}]`);
  }
  lines.push('  --help'.padEnd(30) + ' print this and exit');
  return lines.join('\n');
}

/**
 * Parses `argv` (without node and script: process.argv.slice(2)) and `env`.
 * `--help` prints the usage on stdout and exits 0. Unknown flags and bad values throw
 * ConfigError, so a typo never starts a service with a silent default.
 */
export function parseServiceArgs(
  argv: readonly string[],
  spec: ServiceSpec,
  env: NodeJS.ProcessEnv = process.env,
): ServiceConfig {
  const all: Record<string, OptionSpec> = { ...COMMON, ...(spec.options ?? {}) };
  const given = new Map<string, string | boolean>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') {
      process.stdout.write(serviceUsage(spec) + '\n');
      process.exit(0);
    }
    if (!arg.startsWith('--')) throw new ConfigError('unknown_flag', arg, `unexpected argument ${JSON.stringify(arg)}`);
    const eq = arg.indexOf('=');
    const flag = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    const o = all[flag];
    if (!o) throw new ConfigError('unknown_flag', flag, `unknown flag --${flag} (see --help)`);
    if (eq >= 0) given.set(flag, arg.slice(eq + 1));
    else if (o.type === 'boolean') given.set(flag, true);
    else {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) throw new ConfigError('missing_value', flag, `--${flag} needs a value`);
      given.set(flag, next);
      i++;
    }
  }
  const value = (flag: string): string | number | boolean | undefined => {
    const o = all[flag]!;
    const raw = given.get(flag) ?? env[envName(flag)];
    return raw === undefined ? o.default : convert(flag, o, raw);
  };

  const host = String(value('host'));
  const port = (flag: string): number => {
    const p = value(flag) as number;
    if (!Number.isInteger(p) || p < 0 || p > 65535) throw new ConfigError('bad_value', flag, `--${flag} must be a port 0..65535, not ${p}`);
    return p;
  };
  const options: Record<string, string | number | boolean> = {};
  for (const flag of Object.keys(spec.options ?? {})) {
    const v = value(flag);
    if (v !== undefined) options[flag] = v;
  }
  const natsUser = value('nats-user');
  const natsPassword = value('nats-password');
  const controlToken = value('control-token');
  return {
    kind: spec.kind,
    name: String(value('name') ?? `${spec.kind}-${host}`),
    host,
    natsUrl: String(value('nats-url')),
    ...(natsUser !== undefined ? { natsUser: String(natsUser) } : {}),
    ...(natsPassword !== undefined ? { natsPassword: String(natsPassword) } : {}),
    ...(controlToken !== undefined && controlToken !== '' ? { controlToken: String(controlToken) } : {}),
    httpPort: port('http-port'),
    grpcPort: port('grpc-port'),
    bindAddress: String(value('bind')),
    labDir: resolve(String(value('lab-dir'))),
    options,
  };
}
