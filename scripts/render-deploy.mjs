// Regenerates the checked-in deploy/ files from the code that renders them (after a build):
//   node scripts/render-deploy.mjs
// test/deploy/rendered.test.ts fails when they differ.
import { readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadTopology } from '@vnetlab/topology';
import { render, writeRendered, dashboards, dashboardJson, localPrometheusConfig } from '@vnetlab/app-controller';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const example = join(root, 'examples/two-hosts.yaml');
const topo = loadTopology(example);
const text = readFileSync(example, 'utf8');
for (const [target, dir] of [['compose', 'deploy/compose'], ['k8s', 'deploy/kubernetes']]) {
  rmSync(join(root, dir), { recursive: true, force: true });
  writeRendered(render(target, topo, text), join(root, dir));
}
writeRendered(Object.fromEntries(Object.entries(dashboards()).map(([n, d]) => [n, dashboardJson(d)])), join(root, 'deploy/grafana/dashboards'));
writeRendered({ 'prometheus.yml': localPrometheusConfig() }, join(root, 'deploy/prometheus'));
console.log('deploy/ rendered');
