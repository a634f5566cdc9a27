// The Grafana dashboards are well-formed, lay out without overlap, and every query is a
// modelled rate of a vnetlab metric.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { deployDir } from './deploy_kit.js';

const dir = join(deployDir, 'grafana/dashboards');
const schema = JSON.parse(readFileSync(new URL('./grafana_dashboard.schema.json', import.meta.url), 'utf8'));
const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);
type Panel = { id: number; type: string; title: string; gridPos: { x: number; y: number; w: number; h: number }; targets?: Array<{ expr: string }> };
const boards = readdirSync(dir).map((f) => ({ file: f, d: JSON.parse(readFileSync(join(dir, f), 'utf8')) as { uid: string; panels: Panel[] } }));

describe('Grafana dashboards (deploy/grafana/dashboards)', () => {
  it('there are the overview, host, protection, failures-and-migration and vswitch dashboards', () => {
    expect(boards.map((b) => b.file).sort()).toEqual(['failures.json', 'host.json', 'overview.json', 'protection.json', 'vswitch.json']);
  });

  for (const { file, d } of boards) {
    it(`${file} validates against the dashboard schema`, () => {
      const ok = validate(d);
      expect(validate.errors ?? [], file).toEqual([]);
      expect(ok).toBe(true);
    });

    it(`${file}: panels do not overlap and ids are unique`, () => {
      const cells = new Set<string>();
      for (const p of d.panels)
        for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++)
          for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
            const k = `${x},${y}`;
            expect(cells.has(k), `${p.title} overlaps at ${k}`).toBe(false);
            cells.add(k);
          }
      expect(new Set(d.panels.map((p) => p.id)).size).toBe(d.panels.length);
    });

    it(`${file}: every rate is divided by the rate of modelled time`, () => {
      for (const p of d.panels)
        for (const t of p.targets ?? []) {
          expect(t.expr, p.title).toMatch(/vnetlab_[a-z_]+/);
          const rates = t.expr.match(/rate\((vnetlab_[a-z_]+)/g) ?? [];
          const ofCounters = rates.filter((r) => !r.includes('vnetlab_modelled_time_seconds'));
          if (ofCounters.length) expect(t.expr, p.title).toMatch(/\/ on \(host\) group_left max by \(host\) \(rate\(vnetlab_modelled_time_seconds\[1m\]\)\)/);
        }
    });
  }

  it('the overview shows throughput, CPU per domain and per physical CPU, and drops by reason', () => {
    const o = boards.find((b) => b.file === 'overview.json')!.d;
    const exprs = o.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)).join('\n');
    for (const m of ['vnetlab_link_bytes_total', 'vnetlab_flow_delivered_frames_total', 'vnetlab_flow_drops_total']) expect(exprs).toContain(m);
    expect(exprs).toMatch(/sum by \(host, domain\) \(rate\(vnetlab_cpu_cycles_total/);
    expect(exprs).toMatch(/sum by \(host, pcpu\) \(rate\(vnetlab_cpu_cycles_total/);
    expect(exprs).toMatch(/sum by \(reason\)/);
  });
});
