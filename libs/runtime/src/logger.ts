// Structured logs: one JSON object a line on stderr, with the service, host and domain, so
// that the logs of every process of a lab can be merged and filtered by machine.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line (e.g. { vif: 'vif1.0' }). */
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  service: string;
  host?: string;
  domain?: string;
  /** Lowest level written (default: VNETLAB_LOG_LEVEL or 'info'). */
  level?: LogLevel;
  /** Where each line goes (default: process.stderr). */
  write?: (line: string) => void;
}

// Errors do not survive JSON.stringify (their fields are not enumerable).
function plain(v: unknown): unknown {
  if (v instanceof Error) {
    const extra = Object.fromEntries(Object.entries(v));
    return { name: v.name, message: v.message, ...extra };
  }
  if (typeof v === 'bigint') return v.toString();
  return v;
}

function levelFromEnv(): LogLevel {
  const l = process.env['VNETLAB_LOG_LEVEL'];
  return l === 'debug' || l === 'info' || l === 'warn' || l === 'error' ? l : 'info';
}

export function createLogger(opts: LoggerOptions): Logger {
  const min = RANK[opts.level ?? levelFromEnv()];
  const write = opts.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const base: LogFields = { service: opts.service };
  if (opts.host !== undefined) base['host'] = opts.host;
  if (opts.domain !== undefined) base['domain'] = opts.domain;

  const make = (bound: LogFields): Logger => {
    const log = (level: LogLevel, msg: string, fields?: LogFields): void => {
      if (RANK[level] < min) return;
      const rec: LogFields = { level, msg, time: new Date().toISOString(), ...base, ...bound };
      if (fields) for (const [k, v] of Object.entries(fields)) rec[k] = plain(v);
      let line: string;
      try {
        line = JSON.stringify(rec);
      } catch {
        // A cyclic field must not take the service down with it.
        line = JSON.stringify({ level, msg, time: rec['time'], ...base, ...bound, fields: '[unserializable]' });
      }
      write(line);
    };
    return {
      debug: (m, f) => log('debug', m, f),
      info: (m, f) => log('info', m, f),
      warn: (m, f) => log('warn', m, f),
      error: (m, f) => log('error', m, f),
      child: (fields) => make({ ...bound, ...fields }),
    };
  };
  return make({});
}
