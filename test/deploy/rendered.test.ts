// The checked-in deploy files are what the code renders today (node scripts/render-deploy.mjs
// regenerates them).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dashboardJson, dashboards, localPrometheusConfig } from '@vnetlab/app-controller';
import { example, vnetlab } from '../src/lab_kit.js';
import { deployDir, filesUnder } from './deploy_kit.js';

const tmp = mkdtempSync(join(tmpdir(), 'vnetlab-render-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('vnetlab render', () => {
  for (const [target, dir] of [['compose', 'compose'], ['k8s', 'kubernetes']] as const) {
    it(`render ${target} of examples/two-hosts.yaml equals the checked-in deploy/${dir}`, async () => {
      const out = join(tmp, dir);
      const r = await vnetlab(['render', target, example('two-hosts.yaml'), '-o', out]);
      expect(r.stderr).toBe('');
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

  it('an unknown target and a missing file are usage errors', async () => {
    const bad = await vnetlab(['render', 'helm', example('two-hosts.yaml')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/compose or k8s/);
    const missing = await vnetlab(['render', 'compose', join(tmp, 'nope.yaml'), '-o', join(tmp, 'x')]);
    expect(missing.code).not.toBe(0);
  });
});
