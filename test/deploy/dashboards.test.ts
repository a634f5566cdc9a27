// The Grafana dashboards are well-formed, lay out without overlap, and every query is a
// modelled rate of a vnetlab metric. "Well-formed" is Grafana's own dashboard model: the
// JSON schema is generated here from the TypeScript types @grafana/schema ships (its
// `Dashboard`, the JSON model of schemaVersion 39+), strict about unknown fields.
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Ajv } from 'ajv';
import { createGenerator } from 'ts-json-schema-generator';
import { describe, expect, it } from 'vitest';
import { deployDir } from './deploy_kit.js';

const dir = join(deployDir, 'grafana/dashboards');
const grafanaSchema = dirname(createRequire(import.meta.url).resolve('@grafana/schema/package.json'));
/** The dashboard model's types as @grafana/schema generates them from Grafana's CUE schema. */
const dashboardTypes = join(grafanaSchema, 'dist/types/raw/dashboard/x/types.gen.d.ts');
const schema = createGenerator({ path: dashboardTypes, type: 'Dashboard', skipTypeCheck: true, additionalProperties: false }).createSchema('Dashboard');
const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);
type Panel = { id: number; type: string; title: string; gridPos: { x: number; y: number; w: number; h: number }; targets?: Array<{ expr: string }> };
const boards = readdirSync(dir).map((f) => ({ file: f, d: JSON.parse(readFileSync(join(dir, f), 'utf8')) as { uid: string; panels: Panel[] } }));

describe('Grafana dashboards (deploy/grafana/dashboards)', () => {
  it('the schema is Grafana\'s dashboard model, and it refuses what Grafana would not load', () => {
    const defs = (schema as { definitions: Record<string, unknown> }).definitions;
    for (const d of ['Dashboard', 'Panel', 'VariableModel', 'GridPos', 'FieldConfigSource']) expect(defs, d).toHaveProperty(d);
    expect(validate({ schemaVersion: 39, panels: [{ type: 'timeseries', gridPos: { x: 0, y: 0, w: 12, h: 8 } }] })).toBe(true);
    expect(validate({ schemaVersion: 39, panels: [{ type: 'timeseries', gridPos: { x: 0, y: 0, w: 12 } }] })).toBe(false); // no height
    expect(validate({ schemaVersion: 39, templating: { list: [{ name: 'host', type: 'query', definition: 'x' }] } })).toBe(false); // not in the model
    expect(validate({ title: 'no schemaVersion' })).toBe(false);
  });

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
          // a quantile of a histogram is a ratio of two rates of the same clock: it needs no division
          if (t.expr.startsWith('histogram_quantile(')) continue;
          const rates = t.expr.match(/rate\((vnetlab_[a-z_]+)/g) ?? [];
          const ofCounters = rates.filter((r) => !r.includes('vnetlab_modelled_time_seconds'));
          if (ofCounters.length) expect(t.expr, p.title).toMatch(/\/ on \(host\) group_left max by \(host\) \(rate\(vnetlab_modelled_time_seconds\[1m\]\)\)/);
        }
    });
  }

  it('the overview shows throughput per architecture, round trips, CPU per domain and per physical CPU, and drops by reason', () => {
    const o = boards.find((b) => b.file === 'overview.json')!.d;
    const exprs = o.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)).join('\n');
    for (const m of ['vnetlab_link_bytes_total', 'vnetlab_flow_delivered_frames_total', 'vnetlab_flow_drops_total']) expect(exprs).toContain(m);
    expect(exprs).toMatch(/sum by \(arch\) \(rate\(vnetlab_guest_rx_bytes_total/);
    expect(exprs).toMatch(/histogram_quantile\(0\.99, sum by \(le, arch, proto\) \(rate\(vnetlab_rtt_seconds_bucket/);
    expect(o.panels.filter((p) => p.type === 'text'), 'no placeholder panels').toEqual([]);
    expect(exprs).toMatch(/sum by \(host, domain\) \(rate\(vnetlab_cpu_cycles_total/);
    expect(exprs).toMatch(/sum by \(host, pcpu\) \(rate\(vnetlab_cpu_cycles_total/);
    expect(exprs).toMatch(/sum by \(reason\)/);
  });

  it('the failures dashboard draws NIC health and migration phases as state timelines', () => {
    const f = boards.find((b) => b.file === 'failures.json')!.d;
    const byTitle = new Map(f.panels.map((p) => [p.title, p.type]));
    expect(byTitle.get('NIC health')).toBe('state-timeline');
    expect(byTitle.get('Migration phase')).toBe('state-timeline');
  });
});
