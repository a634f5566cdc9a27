// A small YAML writer for the plain data the renderers build (objects, arrays, strings,
// numbers, booleans, null). The controller has no YAML library of its own and the files
// it writes are simple; multi-line strings become literal blocks so that an embedded
// config file stays readable.

type Plain = string | number | boolean | null | undefined | Plain[] | { [k: string]: Plain };

// Plain scalars that YAML 1.1 or 1.2 would read as something other than the string.
const RESERVED = /^(?:true|false|yes|no|on|off|y|n|null|~|[-+]?(?:\.inf|\.nan)|[-+]?[0-9][0-9_.:eExXoObB+-]*)$/i;
const SAFE = /^[A-Za-z_/.$][A-Za-z0-9_./@$-]*(?: [A-Za-z0-9_./@$()-]+)*$/;

function scalar(v: string | number | boolean | null | undefined): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`cannot write ${v} as YAML`);
    return String(v);
  }
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (v !== '' && SAFE.test(v) && !RESERVED.test(v) && !v.includes(': ') && !v.includes(' #')) return v;
  return JSON.stringify(v);
}

const key = (k: string) => scalar(k);

function block(v: Plain, indent: string): string[] {
  if (Array.isArray(v)) {
    if (v.length === 0) return [`${indent}[]`];
    const lines: string[] = [];
    for (const item of v) {
      const inner = block(item, indent + '  ');
      const first = inner[0].slice(indent.length + 2);
      if (isCollection(item) && !isEmpty(item)) lines.push(`${indent}- ${first}`, ...inner.slice(1));
      else lines.push(`${indent}- ${first}`, ...inner.slice(1));
    }
    return lines;
  }
  if (v !== null && typeof v === 'object') {
    const entries = Object.entries(v).filter(([, x]) => x !== undefined);
    if (entries.length === 0) return [`${indent}{}`];
    const lines: string[] = [];
    for (const [k, x] of entries) {
      if (typeof x === 'string' && x.includes('\n')) {
        // A literal block keeps an embedded file as it is; "|-" when it has no final newline.
        const chomp = x.endsWith('\n') ? '|' : '|-';
        const body = (x.endsWith('\n') ? x.slice(0, -1) : x).split('\n');
        lines.push(`${indent}${key(k)}: ${chomp}`, ...body.map((l) => (l === '' ? '' : `${indent}  ${l}`)));
      } else if (isCollection(x) && !isEmpty(x)) {
        lines.push(`${indent}${key(k)}:`, ...block(x, Array.isArray(x) ? indent : indent + '  '));
      } else {
        lines.push(`${indent}${key(k)}: ${block(x, '')[0]}`);
      }
    }
    return lines;
  }
  if (typeof v === 'string' && v.includes('\n')) return [indent + JSON.stringify(v)];
  return [indent + scalar(v)];
}

function isCollection(v: Plain): v is Plain[] | { [k: string]: Plain } {
  return v !== null && typeof v === 'object';
}
function isEmpty(v: Plain[] | { [k: string]: Plain }): boolean {
  return Array.isArray(v) ? v.length === 0 : Object.values(v).every((x) => x === undefined);
}

/** One YAML document. */
export function toYaml(v: unknown): string {
  return block(v as Plain, '').join('\n') + '\n';
}

/** Several documents in one stream, separated by `---`. */
export function toYamlStream(docs: unknown[]): string {
  return docs.map(toYaml).join('---\n');
}
