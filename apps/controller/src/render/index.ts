// Renders a topology into the files that run it elsewhere than as local processes.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Topology } from '@vnetlab/topology';
import { renderCompose, type RenderOptions, type RenderedFiles } from './compose.js';
import { renderKubernetes } from './kubernetes.js';

export { renderCompose, renderKubernetes, type RenderOptions, type RenderedFiles };
export { dashboards, dashboardJson, modelledRate } from './dashboards.js';
export { fileSdPrometheusConfig, fileSdTargets, localPrometheusConfig, staticPrometheusConfig, type ScrapeTarget } from './prometheus_config.js';
export { SERVICE_KINDS } from './container_layout.js';
export { GRAFANA_IMAGE, PROMETHEUS_IMAGE } from './compose.js';
export { DEV_RENDER_SECRET, deriveCredential, labCredentials, type LabCredentials } from './lab_credentials.js';

export type RenderTarget = 'compose' | 'k8s';

/** The topology file as the rendered lab ships it (the editor's schema hint points nowhere there). */
export function shippedTopology(text: string): string {
  return text.replace(/^# yaml-language-server:.*\n/m, '');
}

export function render(target: RenderTarget, topo: Topology, topologyText: string, opts: RenderOptions = {}): RenderedFiles {
  const text = shippedTopology(topologyText);
  return target === 'compose' ? renderCompose(topo, text, opts) : renderKubernetes(topo, text, opts);
}

export function writeRendered(files: RenderedFiles, dir: string): string[] {
  const written: string[] = [];
  for (const [rel, content] of Object.entries(files).sort(([a], [b]) => a.localeCompare(b))) {
    const p = join(dir, rel);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, content);
    written.push(p);
  }
  return written;
}
