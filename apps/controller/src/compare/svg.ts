// Two plots written by hand as SVG text (no plotting library): a line chart (throughput vs
// guests, one line per architecture) and a stacked bar chart (the SUT's CPU split per point).

export interface Series { name: string; points: Array<{ x: number; y: number }> }
export interface LineChart { title: string; xLabel: string; yLabel: string; series: Series[]; /** a dashed horizontal line, e.g. the wire's rate */ ceiling?: { y: number; label: string } }
export interface Bar { label: string; /** a second label line under the bar, e.g. the architecture */ group?: string; segments: Record<string, number> }
export interface BarChart { title: string; yLabel: string; segments: string[]; bars: Bar[]; yMax?: number }

const W = 720;
const H = 440;
const M = { left: 78, right: 170, top: 44, bottom: 70 };
const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];
export const SEGMENT_COLORS: Record<string, string> = { dom0: '#d62728', xen: '#9467bd', guests: '#1f77b4', other: '#8c564b', idle: '#e5e5e5' };

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

const n = (x: number) => (Number.isFinite(x) ? Number(x.toFixed(2)) : 0);

/** Round tick steps (1, 2, 5 × 10^k) covering [0, max]: about `count` ticks. */
export function niceTicks(max: number, count = 5): number[] {
  if (!(max > 0) || !Number.isFinite(max)) return [0, 1];
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let v = 0; v <= max + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  if (ticks[ticks.length - 1] < max) ticks.push(Number((ticks[ticks.length - 1] + step).toPrecision(12)));
  return ticks;
}

export function fmtTick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e9) return `${Number((v / 1e9).toPrecision(3))}G`;
  if (a >= 1e6) return `${Number((v / 1e6).toPrecision(3))}M`;
  if (a >= 1e3) return `${Number((v / 1e3).toPrecision(3))}k`;
  return String(Number(v.toPrecision(3)));
}

function frame(title: string, body: string[]): string {
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect x="0" y="0" width="${W}" height="${H}" fill="white"/>`,
    `<text class="title" x="${(M.left + W - M.right) / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(title)}</text>`,
    ...body,
    `</svg>`,
    '',
  ].join('\n');
}

/** Y axis with ticks, grid lines and a rotated label; returns the scale. */
function yAxis(ticks: number[], label: string, out: string[]): (v: number) => number {
  const top = ticks[ticks.length - 1] || 1;
  const y = (v: number) => H - M.bottom - (v / top) * (H - M.top - M.bottom);
  out.push(`<g class="y-axis">`);
  out.push(`<line x1="${M.left}" y1="${M.top}" x2="${M.left}" y2="${H - M.bottom}" stroke="black"/>`);
  for (const t of ticks) {
    out.push(`<line x1="${M.left - 5}" y1="${n(y(t))}" x2="${W - M.right}" y2="${n(y(t))}" stroke="${t === 0 ? 'black' : '#dddddd'}"/>`);
    out.push(`<text x="${M.left - 8}" y="${n(y(t) + 4)}" text-anchor="end">${escapeXml(fmtTick(t))}</text>`);
  }
  const cy = (M.top + H - M.bottom) / 2;
  out.push(`<text class="y-label" x="18" y="${cy}" text-anchor="middle" transform="rotate(-90 18 ${cy})">${escapeXml(label)}</text>`);
  out.push(`</g>`);
  return y;
}

function legend(items: Array<{ name: string; color: string; kind: 'line' | 'box' }>, out: string[]): void {
  out.push(`<g class="legend">`);
  items.forEach((it, i) => {
    const x = W - M.right + 16;
    const y = M.top + 8 + i * 20;
    out.push(it.kind === 'line'
      ? `<line x1="${x}" y1="${y}" x2="${x + 22}" y2="${y}" stroke="${it.color}" stroke-width="2.5"/>`
      : `<rect x="${x + 4}" y="${y - 6}" width="14" height="12" fill="${it.color}" stroke="#666666"/>`);
    out.push(`<text x="${x + 28}" y="${y + 4}">${escapeXml(it.name)}</text>`);
  });
  out.push(`</g>`);
}

export function lineChartSvg(c: LineChart): string {
  const body: string[] = [];
  const xs = c.series.flatMap((s) => s.points.map((p) => p.x));
  const ys = c.series.flatMap((s) => s.points.map((p) => p.y));
  const xMax = Math.max(1, ...xs);
  const xTicks = [...new Set(xs)].sort((a, b) => a - b);
  const y = yAxis(niceTicks(Math.max(c.ceiling?.y ?? 0, ...ys, 0) * 1.05), c.yLabel, body);
  const x = (v: number) => M.left + 20 + (v / xMax) * (W - M.left - M.right - 40);
  body.push(`<g class="x-axis">`);
  body.push(`<line x1="${M.left}" y1="${H - M.bottom}" x2="${W - M.right}" y2="${H - M.bottom}" stroke="black"/>`);
  for (const t of xTicks.length ? xTicks : [0]) {
    body.push(`<line x1="${n(x(t))}" y1="${H - M.bottom}" x2="${n(x(t))}" y2="${H - M.bottom + 5}" stroke="black"/>`);
    body.push(`<text x="${n(x(t))}" y="${H - M.bottom + 19}" text-anchor="middle">${escapeXml(fmtTick(t))}</text>`);
  }
  body.push(`<text class="x-label" x="${(M.left + W - M.right) / 2}" y="${H - 22}" text-anchor="middle">${escapeXml(c.xLabel)}</text>`);
  body.push(`</g>`);
  if (c.ceiling) {
    body.push(`<line class="ceiling" x1="${M.left}" y1="${n(y(c.ceiling.y))}" x2="${W - M.right}" y2="${n(y(c.ceiling.y))}" stroke="#555555" stroke-dasharray="6 4"/>`);
    body.push(`<text x="${W - M.right - 4}" y="${n(y(c.ceiling.y) - 5)}" text-anchor="end" fill="#555555">${escapeXml(c.ceiling.label)}</text>`);
  }
  c.series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length];
    const pts = [...s.points].sort((a, b) => a.x - b.x);
    body.push(`<g class="series" data-name="${escapeXml(s.name)}">`);
    body.push(`<polyline fill="none" stroke="${color}" stroke-width="2.5" points="${pts.map((p) => `${n(x(p.x))},${n(y(p.y))}`).join(' ')}"/>`);
    for (const p of pts) body.push(`<circle cx="${n(x(p.x))}" cy="${n(y(p.y))}" r="3.5" fill="${color}"/>`);
    body.push(`</g>`);
  });
  legend(c.series.map((s, i) => ({ name: s.name, color: PALETTE[i % PALETTE.length], kind: 'line' })), body);
  return frame(c.title, body);
}

export function stackedBarSvg(c: BarChart): string {
  const body: string[] = [];
  const totals = c.bars.map((b) => c.segments.reduce((t, s) => t + Math.max(0, b.segments[s] ?? 0), 0));
  const y = yAxis(niceTicks(c.yMax ?? Math.max(0, ...totals), 4), c.yLabel, body);
  const plotW = W - M.left - M.right;
  // bars of one group side by side, a gap between groups, the group's name centred under it
  const GAP = 0.8;
  const groupIndex: number[] = [];
  c.bars.forEach((b, i) => groupIndex.push(i === 0 ? 0 : groupIndex[i - 1] + (b.group !== c.bars[i - 1].group ? 1 : 0)));
  const units = c.bars.length + (groupIndex[groupIndex.length - 1] ?? 0) * GAP;
  const slot = plotW / Math.max(1, units);
  const bw = Math.max(4, Math.min(48, slot * 0.7));
  const centre = (i: number) => M.left + slot * (i + groupIndex[i] * GAP + 0.5);
  body.push(`<g class="x-axis">`);
  body.push(`<line x1="${M.left}" y1="${H - M.bottom}" x2="${W - M.right}" y2="${H - M.bottom}" stroke="black"/>`);
  c.bars.forEach((b, i) => {
    body.push(`<text x="${n(centre(i))}" y="${H - M.bottom + 16}" text-anchor="middle">${escapeXml(b.label)}</text>`);
    if (b.group !== undefined && (i === 0 || c.bars[i - 1].group !== b.group)) {
      let last = i;
      while (last + 1 < c.bars.length && c.bars[last + 1].group === b.group) last++;
      body.push(`<text x="${n((centre(i) + centre(last)) / 2)}" y="${H - M.bottom + 32}" text-anchor="middle" font-weight="bold">${escapeXml(b.group)}</text>`);
    }
  });
  body.push(`</g>`);
  c.bars.forEach((b, i) => {
    const x0 = centre(i) - bw / 2;
    let acc = 0;
    body.push(`<g class="bar" data-label="${escapeXml(`${b.group ?? ''} ${b.label}`.trim())}">`);
    for (const s of c.segments) {
      const v = Math.max(0, b.segments[s] ?? 0);
      if (v <= 0) continue;
      const yTop = y(acc + v);
      body.push(`<rect x="${n(x0)}" y="${n(yTop)}" width="${n(bw)}" height="${n(y(acc) - yTop)}" fill="${SEGMENT_COLORS[s] ?? PALETTE[c.segments.indexOf(s) % PALETTE.length]}" stroke="#666666" stroke-width="0.5"><title>${escapeXml(`${s}: ${Number(v.toPrecision(3))}`)}</title></rect>`);
      acc += v;
    }
    body.push(`</g>`);
  });
  legend([...c.segments].reverse().map((s) => ({ name: s, color: SEGMENT_COLORS[s] ?? PALETTE[c.segments.indexOf(s) % PALETTE.length], kind: 'box' })), body);
  return frame(c.title, body);
}
