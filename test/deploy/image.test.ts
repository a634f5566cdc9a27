// The one image: its entrypoint runs every service kind it names, and the compose and
// Kubernetes files only ask it for kinds it knows.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SERVICE_KINDS } from '@vnetlab/app-controller';
import { repoRoot } from '../src/lab_kit.js';
import { deployDir, run } from './deploy_kit.js';

const entrypoint = join(deployDir, 'docker/entrypoint.sh');
const text = readFileSync(entrypoint, 'utf8');
const caseLine = text.split('\n').find((l) => /^\s+hypervisor\|.*\)$/.test(l))!;
const kinds = caseLine.trim().replace(/\)$/, '').split('|');

describe('the vnetlab image', () => {
  it('the entrypoint maps every service kind it names to an app that the build produces', () => {
    expect(kinds.length).toBeGreaterThanOrEqual(6);
    expect(text).toContain('$root/apps/$kind/dist/main.js');
    for (const k of kinds) expect(existsSync(join(repoRoot, 'apps', k, 'dist/main.js')), k).toBe(true);
    expect([...kinds].sort()).toEqual([...SERVICE_KINDS].sort());
  });

  it('the Dockerfile starts from node:20-bookworm-slim, installs with npm ci, builds and uses the entrypoint', () => {
    const d = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8');
    expect(d).toMatch(/^FROM node:20-bookworm-slim/m);
    expect(d).toMatch(/npm ci/);
    expect(d).toMatch(/nx run-many -t build/);
    expect(d).toContain('deploy/docker/entrypoint.sh');
    expect(existsSync(join(repoRoot, '.dockerignore'))).toBe(true);
  });

  it('the entrypoint refuses an unknown kind with a non-zero exit', async () => {
    const r = await run('sh', [entrypoint, 'no-such-kind']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown service kind/);
  });

  it('every service of the compose file runs a kind the entrypoint knows', () => {
    const compose = readFileSync(join(deployDir, 'compose/docker-compose.yml'), 'utf8');
    const commands = [...compose.matchAll(/image: "\$\{VNETLAB_IMAGE[^\n]*\n\s+command:\n\s+- ([a-z-]+)/g)].map((m) => m[1]);
    expect(commands.length).toBeGreaterThan(5);
    // `vnetlab` (the CLI: the one-shot nats-buckets) is the entrypoint's other case
    expect(text).toMatch(/^\s+vnetlab\)\n\s+exec node "\$root\/apps\/controller\/dist\/cli\.js"/m);
    for (const c of commands) expect([...kinds, 'vnetlab']).toContain(c);
  });
});
