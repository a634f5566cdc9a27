import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import type { Ajv, ErrorObject, ValidateFunction } from 'ajv';
import type { PathSegment } from './topology_error.js';

/** The JSON schema file shipped with the library (usable by editors via yaml-language-server). */
export const TOPOLOGY_SCHEMA_PATH = fileURLToPath(new URL('../schema/topology.schema.json', import.meta.url));
export const topologySchema: Record<string, unknown> = JSON.parse(readFileSync(TOPOLOGY_SCHEMA_PATH, 'utf8'));

// Ajv itself is loaded only to compile (the build, tests): a service loads the prebuilt
// validator, and loading Ajv's modules alone took a tenth of a second.
const requireCjs = createRequire(import.meta.url);
const newAjv = (opts: Record<string, unknown>): Ajv => new (requireCjs('ajv') as { Ajv: new (o: Record<string, unknown>) => Ajv }).Ajv(opts);
type StandaloneCode = (ajv: Ajv, validate: ValidateFunction) => string;
const standaloneCode = (): StandaloneCode => (requireCjs('ajv/dist/standalone') as { default: StandaloneCode }).default;

export interface SchemaProblem { path: PathSegment[]; atKey: boolean; message: string }

let validator: ValidateFunction | undefined;

// verbose: errors carry their parentSchema, whose description words the pattern messages.
const AJV_OPTIONS = { allErrors: true, strict: true, verbose: true } as const;

/** The validator compiled now, from the schema: a quarter of a second of CPU. */
export function compileValidator(schema: Record<string, unknown> = topologySchema): ValidateFunction {
  return newAjv(AJV_OPTIONS).compile(schema);
}

/**
 * The validator as the source of a CommonJS module (Ajv's standalone code), written at build
 * time next to the compiled library: every service loads the topology, and compiling the
 * schema in each process was the largest part of its start-up.
 */
export function validatorSource(schema: Record<string, unknown> = topologySchema): string {
  const ajv = newAjv({ ...AJV_OPTIONS, code: { source: true } });
  return standaloneCode()(ajv, ajv.compile(schema));
}

/** The file the build writes validatorSource() to, beside this module. */
export const VALIDATOR_FILE = 'topology_validator.cjs';

function validate(): ValidateFunction {
  if (validator) return validator;
  try {
    validator = requireCjs(`./${VALIDATOR_FILE}`) as ValidateFunction;
  } catch {
    validator = compileValidator(); // run from source (tests), or the build did not write it
  }
  return validator;
}

/** Schema problems of a plain JS value, worded for a person editing YAML. */
export function schemaProblems(value: unknown): SchemaProblem[] {
  const v = validate();
  if (v(value)) return [];
  const out: SchemaProblem[] = [];
  const seen = new Set<string>();
  for (const e of v.errors ?? []) {
    const p = translate(e);
    const key = JSON.stringify(p.path) + p.message;
    if (!seen.has(key)) { seen.add(key); out.push(p); }
  }
  return out;
}

function pointerToPath(pointer: string): PathSegment[] {
  if (pointer === '') return [];
  return pointer.slice(1).split('/').map((s) => {
    const raw = s.replace(/~1/g, '/').replace(/~0/g, '~');
    return /^(0|[1-9][0-9]*)$/.test(raw) ? Number(raw) : raw;
  });
}

const ARTICLE: Record<string, string> = {
  number: 'a number', integer: 'an integer', string: 'a string', array: 'a list', object: 'a mapping (key: value)', boolean: 'true or false',
};

function translate(e: ErrorObject): SchemaProblem {
  const path = pointerToPath(e.instancePath);
  const parent = (e.parentSchema ?? {}) as { description?: string; properties?: Record<string, unknown> };
  switch (e.keyword) {
    case 'type': {
      const t = String((e.params as { type: string }).type);
      return { path, atKey: false, message: `must be ${ARTICLE[t] ?? t}, got ${describeValue(e.data)}` };
    }
    case 'required':
      return { path: [...path, (e.params as { missingProperty: string }).missingProperty], atKey: false, message: 'is required' };
    case 'additionalProperties': {
      const key = (e.params as { additionalProperty: string }).additionalProperty;
      const allowed = Object.keys(parent.properties ?? {}).join(', ');
      return { path: [...path, key], atKey: true, message: `unknown key (allowed here: ${allowed})` };
    }
    case 'enum': {
      const allowed = ((e.params as { allowedValues: unknown[] }).allowedValues).join(', ');
      return { path, atKey: false, message: `must be one of ${allowed}, got ${describeValue(e.data)}` };
    }
    case 'oneOf':
      return { path, atKey: false, message: `must be ${parent.description ?? 'exactly one of the allowed forms'}` };
    case 'pattern':
      return { path, atKey: false, message: `must be ${parent.description ?? `a string matching ${String((e.params as { pattern: string }).pattern)}`}, got ${describeValue(e.data)}` };
    default:
      return { path, atKey: false, message: `${e.message ?? e.keyword}${e.data !== undefined && typeof e.data !== 'object' ? `, got ${describeValue(e.data)}` : ''}` };
  }
}

export function describeValue(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return String(v);
}
