// `vnetlab graph`: the topology drawn without starting anything, as containerlab's graph
// verb does — a text outline, Graphviz DOT, or an SVG drawn here (boxes and lines, no
// renderer needed). Hosts hold their guests, their driver domain (bridge or vswitch, its
// VTEP) and their NICs; links join NICs (a cable) or several NICs (an L2 segment); guest
// interfaces are coloured by VNI.
import type { Host, Topology } from '@vnetlab/topology';

export type GraphFormat = 'text' | 'dot' | 'svg';
export const GRAPH_FORMATS: readonly GraphFormat[] = ['text', 'dot', 'svg'];

function rate(bps: number): string {
  if (bps >= 1e9) return `${+(bps / 1e9).toFixed(2)} Gb/s`;
  if (bps >= 1e6) return `${+(bps / 1e6).toFixed(2)} Mb/s`;
  return `${bps} b/s`;
}

function latency(ns: number): string {
  return ns >= 1e6 ? `${+(ns / 1e6).toFixed(3)} ms` : `${+(ns / 1e3).toFixed(3)} µs`;
}

function dom0Label(h: Host): string {
  return `dom0 (${h.driver_domain.switch}${h.underlay ? `, VTEP ${h.underlay.ip}` : ''})`;
}

/** The VNIs of the lab and their members, in VNI order. */
function vnis(t: Topology): Map<number, string[]> {
  const m = new Map<number, string[]>();
  for (const h of t.hosts) for (const g of h.guests) for (const i of g.interfaces) if (i.vni !== undefined) m.set(i.vni, [...(m.get(i.vni) ?? []), `${g.name} (${h.name})`]);
  return new Map([...m].sort((a, b) => a[0] - b[0]));
}

export function graphText(t: Topology): string {
  const guests = t.hosts.reduce((n, h) => n + h.guests.length, 0);
  const out = [`lab ${t.name}: ${t.hosts.length} host${t.hosts.length === 1 ? '' : 's'}, ${guests} guest${guests === 1 ? '' : 's'}, ${t.links.length} link${t.links.length === 1 ? '' : 's'}`, ''];
  for (const h of t.hosts) {
    out.push(`${h.name}  ${dom0Label(h)}`);
    const rows = [
      ...h.guests.map((g) => {
        const i = g.interfaces[0];
        return i ? `${g.name.padEnd(10)} ${i.arch.padEnd(10)} ${i.ip.padEnd(15)} ${i.mac}${i.nic ? ` via ${i.nic}` : ''}${i.vni !== undefined ? `  vni ${i.vni}` : ''}` : `${g.name} (no interface)`;
      }),
      ...h.nics.map((n) => `${n.name.padEnd(10)} ${'nic'.padEnd(10)} ${rate(n.rate_bps).padEnd(15)} ${n.mac}${n.queue_sets > 1 ? `  ${n.queue_sets} queue sets` : ''}`),
    ];
    rows.forEach((r, i) => out.push(`  ${i === rows.length - 1 ? '└─' : '├─'} ${r}`));
    out.push('');
  }
  if (t.links.length) {
    out.push('links');
    for (const l of t.links) out.push(`  ${l.name} (${l.form}, ${rate(l.rate_bps)}, ${latency(l.latency_ns)}${l.loss ? `, loss ${l.loss}` : ''}): ${l.ends.join(l.form === 'cable' ? ' ── ' : ', ')}`);
  }
  const v = vnis(t);
  if (v.size) {
    out.push('', 'VNIs');
    for (const [vni, members] of v) out.push(`  ${vni}: ${members.join(', ')}`);
  }
  return out.join('\n');
}

const dq = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

export function graphDot(t: Topology): string {
  const out = [`graph ${dq(t.name)} {`, '  rankdir=TB;', '  node [shape=box, fontname="Helvetica"];', '  edge [fontname="Helvetica"];'];
  const colors = vniColors(t);
  for (const h of t.hosts) {
    out.push(`  subgraph ${dq(`cluster_${h.name}`)} {`, `    label=${dq(h.name)};`);
    out.push(`    ${dq(`${h.name}/dom0`)} [label=${dq(dom0Label(h))}];`);
    for (const g of h.guests) {
      const i = g.interfaces[0];
      const label = [g.name, i ? `${i.arch} ${i.ip}` : '', i?.vni !== undefined ? `vni ${i.vni}` : ''].filter(Boolean).join('\\n');
      const fill = i?.vni !== undefined ? `, style=filled, fillcolor=${dq(colors.get(i.vni)!)}` : '';
      out.push(`    ${dq(g.name)} [label="${label.replace(/"/g, '\\"')}"${fill}];`);
      out.push(`    ${dq(g.name)} -- ${dq(`${h.name}/dom0`)};`);
    }
    for (const n of h.nics) {
      out.push(`    ${dq(`${h.name}/${n.name}`)} [shape=component, label=${dq(`${n.name} ${rate(n.rate_bps)}`)}];`);
      out.push(`    ${dq(`${h.name}/dom0`)} -- ${dq(`${h.name}/${n.name}`)};`);
    }
    out.push('  }');
  }
  for (const l of t.links) {
    const label = `${l.name}\\n${rate(l.rate_bps)}, ${latency(l.latency_ns)}`;
    if (l.form === 'cable') {
      out.push(`  ${dq(l.ends[0]!)} -- ${dq(l.ends[1]!)} [label="${label}"];`);
    } else {
      out.push(`  ${dq(`link:${l.name}`)} [shape=ellipse, label="${label}"];`);
      for (const e of l.ends) out.push(`  ${dq(e)} -- ${dq(`link:${l.name}`)};`);
    }
  }
  out.push('}');
  return out.join('\n');
}

const PALETTE = ['#aec7e8', '#ffbb78', '#98df8a', '#ff9896', '#c5b0d5', '#c49c94', '#f7b6d2', '#dbdb8d'];

function vniColors(t: Topology): Map<number, string> {
  return new Map([...vnis(t).keys()].map((v, i) => [v, PALETTE[i % PALETTE.length]!]));
}

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** An SVG: one box per host (guests on top, dom0, NICs below), links under the hosts. */
export function graphSvg(t: Topology): string {
  const GW = 130, GH = 46, GAP = 12, PAD = 14, TOP = 40;
  const colors = vniColors(t);
  const els: string[] = [];
  const text = (x: number, y: number, s: string, opts = '') => els.push(`<text x="${x}" y="${y}" ${opts}>${escapeXml(s)}</text>`);
  const rect = (x: number, y: number, w: number, h: number, fill: string, stroke = '#333') => els.push(`<rect x="${x}" y="${y}" width="${w}" height="${h}" rx="4" fill="${fill}" stroke="${stroke}"/>`);
  const line = (x1: number, y1: number, x2: number, y2: number, stroke = '#333', width = 1.5) => els.push(`<line x1="${x1}" y1="${y1}" x2="${x2}" y2="${y2}" stroke="${stroke}" stroke-width="${width}"/>`);
  const nicPos = new Map<string, { x: number; y: number }>();
  let x = PAD;
  let hostBottom = 0;
  for (const h of t.hosts) {
    const cols = Math.max(1, h.guests.length, h.nics.length);
    const w = cols * GW + (cols + 1) * GAP;
    const hh = TOP + GH + 40 + 40 + 30 + GH + GAP;
    rect(x, PAD, w, hh, '#f7f7f7', '#666');
    text(x + 8, PAD + 20, h.name, 'font-weight="bold" font-size="15"');
    const gy = PAD + TOP;
    const dy = gy + GH + 40;
    const ny = dy + 40 + 30;
    const dom0 = { x: x + GAP, y: dy, w: w - 2 * GAP, h: 40 };
    h.guests.forEach((g, i) => {
      const gx = x + GAP + i * (GW + GAP);
      const iface = g.interfaces[0];
      line(gx + GW / 2, gy + GH, gx + GW / 2, dom0.y);
      rect(gx, gy, GW, GH, iface?.vni !== undefined ? colors.get(iface.vni)! : '#ffffff');
      text(gx + 6, gy + 17, g.name, 'font-weight="bold"');
      text(gx + 6, gy + 34, `${iface?.ip ?? ''}${iface?.vni !== undefined ? `  vni ${iface.vni}` : ''}`, 'font-size="11"');
    });
    h.nics.forEach((n, i) => {
      const nx = x + GAP + i * (GW + GAP);
      line(nx + GW / 2, dom0.y + dom0.h, nx + GW / 2, ny);
      rect(nx, ny, GW, GH, '#e8e8e8');
      text(nx + 6, ny + 17, n.name, 'font-weight="bold"');
      text(nx + 6, ny + 34, rate(n.rate_bps), 'font-size="11"');
      nicPos.set(`${h.name}/${n.name}`, { x: nx + GW / 2, y: ny + GH });
    });
    rect(dom0.x, dom0.y, dom0.w, dom0.h, '#fff5d6');
    text(dom0.x + 8, dom0.y + 25, dom0Label(h), 'font-size="12"');
    hostBottom = Math.max(hostBottom, PAD + hh);
    x += w + 2 * GAP;
  }
  let width = x;
  let y = hostBottom + 30;
  for (const l of t.links) {
    const ends = l.ends.map((e) => nicPos.get(e)).filter((p): p is { x: number; y: number } => p !== undefined);
    if (ends.length === 0) continue;
    const minX = Math.min(...ends.map((p) => p.x));
    const maxX = Math.max(...ends.map((p) => p.x));
    // a cable and a segment alike: a bus the NICs drop onto; a segment is drawn thicker
    for (const p of ends) line(p.x, p.y, p.x, y, '#1f4e79', 2);
    line(minX, y, Math.max(maxX, minX + 1), y, '#1f4e79', l.form === 'segment' ? 6 : 2);
    text(minX, y + 20, `${l.name} (${l.form}): ${rate(l.rate_bps)}, ${latency(l.latency_ns)}${l.loss ? `, loss ${l.loss}` : ''}`, 'font-size="12"');
    y += 44;
  }
  const legend = [...colors];
  if (legend.length) {
    let lx = PAD;
    for (const [vni, c] of legend) {
      rect(lx, y, 14, 14, c);
      text(lx + 20, y + 12, `VNI ${vni}`, 'font-size="12"');
      lx += 90;
    }
    width = Math.max(width, lx);
    y += 24;
  }
  const height = y + PAD;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="13">`,
    `<title>${escapeXml(`lab ${t.name}`)}</title>`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`,
    ...els,
    '</svg>',
    '',
  ].join('\n');
}

export function graph(t: Topology, format: GraphFormat): string {
  if (format === 'dot') return graphDot(t);
  if (format === 'svg') return graphSvg(t);
  return graphText(t);
}
