// A small, strict command-line parser: --flag value, --flag=value, --bool, positionals.

export interface FlagSpec {
  name: string;
  help: string;
  type: 'string' | 'number' | 'boolean';
  default?: string | number | boolean;
}

/** One verb of the CLI: its synopsis and help for --help, its flags, and what it does (the exit code). */
export interface Command {
  synopsis: string;
  help: string;
  flags: FlagSpec[];
  run(pos: string[], f: Record<string, unknown>): Promise<number>;
}

export interface Parsed {
  positionals: string[];
  flags: Record<string, string | number | boolean | undefined>;
}

export class UsageError extends Error {}

export function parseArgs(argv: string[], specs: FlagSpec[]): Parsed {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const flags: Parsed['flags'] = {};
  for (const s of specs) if (s.default !== undefined) flags[s.name] = s.default;
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) {
      positionals.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = a.slice(2, eq < 0 ? undefined : eq);
    const spec = byName.get(name);
    if (!spec) throw new UsageError(`unknown option --${name}`);
    let raw: string | undefined = eq < 0 ? undefined : a.slice(eq + 1);
    if (spec.type === 'boolean') {
      flags[name] = raw === undefined ? true : raw !== 'false';
      continue;
    }
    if (raw === undefined) {
      raw = argv[++i];
      if (raw === undefined) throw new UsageError(`--${name} needs a value`);
    }
    if (spec.type === 'number') {
      const n = Number(raw);
      if (!Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got "${raw}"`);
      flags[name] = n;
    } else flags[name] = raw;
  }
  return { positionals, flags };
}

export function usage(synopsis: string, description: string, specs: FlagSpec[]): string {
  const lines = [`usage: ${synopsis}`, '', description, ''];
  if (specs.length) {
    lines.push('options:');
    const w = Math.max(...specs.map((s) => s.name.length + (s.type === 'boolean' ? 0 : 6)));
    for (const s of specs) {
      const left = `--${s.name}${s.type === 'boolean' ? '' : ' VALUE'}`;
      const def = s.default !== undefined && s.type !== 'boolean' ? ` (default ${s.default})` : '';
      lines.push(`  ${left.padEnd(w + 4)}${s.help}${def}`);
    }
  }
  return lines.join('\n');
}
