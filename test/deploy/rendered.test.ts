// The checked-in deploy files are what the code renders today (node scripts/render-deploy.mjs
// regenerates them).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEV_RENDER_SECRET, dashboardJson, dashboards, localPrometheusConfig } from '@vnetlab/app-controller';
import { example, vnetlab } from '../src/lab_kit.js';
import { deployDir, filesUnder } from './deploy_kit.js';

const tmp = mkdtempSync(join(tmpdir(), 'vnetlab-render-'));
// the checked-in files are rendered with the development secret: none may come from the environment
delete process.env.VNETLAB_RENDER_SECRET;
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('vnetlab render', () => {
  for (const [target, dir] of [['compose', 'compose'], ['k8s', 'kubernetes']] as const) {
    it(`render ${target} of examples/two-hosts.yaml equals the checked-in deploy/${dir}`, async () => {
      const out = join(tmp, dir);
      const r = await vnetlab(['render', target, example('two-hosts.yaml'), '-o', out]);
      // the only thing on stderr: the warning that the development secret was used
      expect(r.stderr.trim().split('\n')).toEqual([expect.stringContaining(`development secret "${DEV_RENDER_SECRET}"`)]);
      expect(r.code).toBe(0);
      const files = filesUnder(out);
      expect(files).toEqual(filesUnder(join(deployDir, dir)));
      for (const f of files) expect(readFileSync(join(out, f), 'utf8'), f).toBe(readFileSync(join(deployDir, dir, f), 'utf8'));
    });
  }

  it('the dashboards in deploy/grafana/dashboards are the rendered ones', () => {
    const want = Object.entries(dashboards()).map(([n, d]) => [n, dashboardJson(d)]);
    expect(filesUnder(join(deployDir, 'grafana/dashboards'))).toEqual(want.map(([n]) => n).sort());
    for (const [n, text] of want) expect(readFileSync(join(deployDir, 'grafana/dashboards', n), 'utf8'), n).toBe(text);
  });

  it('deploy/prometheus/prometheus.yml is the rendered local configuration', () => {
    expect(readFileSync(join(deployDir, 'prometheus/prometheus.yml'), 'utf8')).toBe(localPrometheusConfig());
  });

  it('render --secret S: no warning, other credentials than the checked-in ones, and the same ones every time', async () => {
    const conf = async (out: string) => {
      const r = await vnetlab(['render', 'compose', example('two-hosts.yaml'), '-o', join(tmp, out), '--secret', 'a-real-secret']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      return readFileSync(join(tmp, out, 'nats/nats.conf'), 'utf8');
    };
    const first = await conf('s1');
    expect(await conf('s2')).toBe(first);
    const dev = readFileSync(join(deployDir, 'compose/nats/nats.conf'), 'utf8');
    const password = (c: string) => /user: "vm-a1", password: "([0-9a-f]+)"/.exec(c)![1];
    expect(password(first)).not.toBe(password(dev));
    expect(first).not.toMatch(/WARNING/);
  });

  it('an unknown target and a missing file are usage errors', async () => {
    const bad = await vnetlab(['render', 'helm', example('two-hosts.yaml')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/compose or k8s/);
    const missing = await vnetlab(['render', 'compose', join(tmp, 'nope.yaml'), '-o', join(tmp, 'x')]);
    expect(missing.code).not.toBe(0);
  });
});
