import { describe, it, expect } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import type { ValidateFunction } from 'ajv';
import { parse } from 'yaml';
import { compileValidator, validatorSource, VALIDATOR_FILE } from './topology_schema.js';

const LIB = fileURLToPath(new URL('..', import.meta.url));
const EXAMPLE = readFileSync(fileURLToPath(new URL('../../../examples/two-hosts.yaml', import.meta.url)), 'utf8');

/** Loads a validator module written in a directory under the library (so it finds ajv's runtime). */
function loadFrom(code: string): { validate: ValidateFunction; done: () => void } {
  const dir = mkdtempSync(join(LIB, '.validator-test-'));
  writeFileSync(join(dir, VALIDATOR_FILE), code);
  return { validate: createRequire(join(dir, 'x.js'))(`./${VALIDATOR_FILE}`) as ValidateFunction, done: () => rmSync(dir, { recursive: true, force: true }) };
}

const errorsOf = (v: ValidateFunction, doc: unknown) => {
  const ok = v(doc);
  return { ok, errors: (v.errors ?? []).map((e) => ({ at: e.instancePath, keyword: e.keyword, params: e.params, message: e.message, parent: e.parentSchema !== undefined })) };
};

describe('the prebuilt topology validator', () => {
  const example = parse(EXAMPLE) as Record<string, unknown>;
  const hosts = example['hosts'] as Array<Record<string, unknown>>;
  const broken: Array<[string, unknown]> = [
    ['the example', example],
    ['nothing', {}],
    ['a wrong type', { ...example, hosts: 'two' }],
    ['an unknown key', { ...example, colour: 'blue' }],
    ['a value outside an enum', { ...example, hosts: [{ ...hosts[0], guests: [{ name: 'g', memory_mib: 32, vcpus: [1], interfaces: [{ arch: 'warp' }] }] }] }],
    ['a bad name', { ...example, name: 'Not A Name!' }],
  ];

  it('refuses and accepts exactly what the schema compiled at run time does, with the same errors', () => {
    const built = loadFrom(validatorSource());
    try {
      const compiled = compileValidator();
      for (const [what, doc] of broken) expect(errorsOf(built.validate, doc), what).toEqual(errorsOf(compiled, doc));
      expect(errorsOf(built.validate, broken[3]![1]).ok).toBe(false);
      expect(errorsOf(built.validate, example).ok).toBe(true);
    } finally {
      built.done();
    }
  });

  it('is written by the build beside the compiled library', () => {
    const file = join(LIB, 'dist', VALIDATOR_FILE);
    expect(existsSync(file)).toBe(true);
    const v = createRequire(file)(file) as ValidateFunction;
    expect(v(example)).toBe(true);
    expect(v({ ...example, colour: 'blue' })).toBe(false);
  });
});
