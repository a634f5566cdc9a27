// The one image: its entrypoint runs every service kind it names, and the compose and
// Kubernetes files only ask it for kinds it knows; where a Docker engine and the built image
// are, every kind answers --help from inside the image.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SERVICE_KINDS } from '@vnetlab/app-controller';
import { repoRoot } from '../src/lab_kit.js';
import { deployDir, dockerMissing, run, vnetlabImage } from './deploy_kit.js';

const entrypoint = join(deployDir, 'docker/entrypoint.sh');
const text = readFileSync(entrypoint, 'utf8');
const caseLine = text.split('\n').find((l) => /^\s+hypervisor\|.*\)$/.test(l))!;
const kinds = caseLine.trim().replace(/\)$/, '').split('|');
/** The entrypoint's other cases: the CLI, the deployed operator, the message bus. */
const others = [...text.matchAll(/^ {2}([a-z-]+)\)$/gm)].map((m) => m[1]);

describe('the vnetlab image', () => {
  it('the entrypoint maps every service kind it names to an app that the build produces', () => {
    expect(kinds.length).toBeGreaterThanOrEqual(6);
    expect(text).toContain('$root/apps/$kind/dist/main.js');
    for (const k of kinds) expect(existsSync(join(repoRoot, 'apps', k, 'dist/main.js')), k).toBe(true);
    expect([...kinds].sort()).toEqual([...SERVICE_KINDS].sort());
  });

  it('the Dockerfile starts from debian:trixie-slim, takes Node 20 and nats-server from Debian, installs with npm ci, builds and uses the entrypoint', () => {
    const d = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8');
    const froms = [...d.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
    expect(froms).toEqual(['debian:trixie-slim', 'debian:trixie-slim']);
    const runtime = d.slice(d.lastIndexOf('\nFROM '));
    expect(runtime).toMatch(/apt-get install [^\n]*nodejs nats-server/);
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
    expect(others).toEqual(expect.arrayContaining(['vnetlab', 'operator', 'nats-server']));
    for (const c of commands) expect([...kinds, ...others]).toContain(c);
    expect(commands).toEqual(expect.arrayContaining(['nats-server', 'operator']));
  });
});

const why = await dockerMissing('test/deploy/image.test.ts');

describe.skipIf(!!why)(`the built image ${vnetlabImage}${why ? ` (skipped: ${why})` : ''}`, () => {
  const docker = (args: string[]) => run('docker', ['run', '--rm', vnetlabImage, ...args], { timeoutMs: 60_000 });

  it('with no argument or --help it lists the kinds it runs', async () => {
    for (const args of [[], ['--help']]) {
      const r = await docker(args);
      expect(r.code, r.stderr).toBe(0);
      for (const k of [...kinds, 'operator', 'nats-server', 'vnetlab']) expect(r.stdout).toContain(k);
    }
  });

  it('every service kind, the operator and the CLI answer --help from inside the image', async () => {
    for (const k of [...kinds, 'operator', 'vnetlab']) {
      const r = await docker([k, '--help']);
      expect(r.code, `${k}: ${r.stderr}`).toBe(0);
      expect(r.stdout + r.stderr, k).toMatch(/usage|Usage/);
    }
  });

  it('runs Node 20 and a nats-server from Debian, as a user that is not root', async () => {
    const node = await run('docker', ['run', '--rm', '--entrypoint', 'node', vnetlabImage, '--version']);
    expect(node.stdout).toMatch(/^v20\./);
    const nats = await docker(['nats-server', '--version']);
    expect(nats.code).toBe(0);
    expect(nats.stdout + nats.stderr).toMatch(/nats-server: v2\./);
    const id = await run('docker', ['run', '--rm', '--entrypoint', 'id', vnetlabImage, '-u']);
    expect(id.stdout.trim()).not.toBe('0');
  });

  it('an unknown kind is refused with exit code 2', async () => {
    const r = await docker(['no-such-kind']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown service kind/);
  });
});
