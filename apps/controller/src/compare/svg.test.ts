import { describe, expect, it } from 'vitest';
import { allElements, parseXml, XmlError } from './xml_check.js';
import { lineChartSvg, niceTicks, stackedBarSvg } from './svg.js';

const texts = (svg: string) => allElements(parseXml(svg)).filter((e) => e.name === 'text').map((e) => e.text);

describe('the XML check', () => {
  it('accepts well-formed XML with a declaration, entities and self-closing tags', () => {
    const root = parseXml('<?xml version="1.0"?>\n<a x="1 &amp; 2"><b/><c>t &lt; u</c></a>\n');
    expect(root.name).toBe('a');
    expect(root.attrs.x).toBe('1 & 2');
    expect(root.children.map((c) => c.name)).toEqual(['b', 'c']);
    expect(root.children[1].text).toBe('t < u');
  });

  it.each([
    ['<a><b></a>', /closes <b>/],
    ['<a>', /never closed/],
    ['<a x=1/>', /not quoted/],
    ['<a>x & y</a>', /starts no entity/],
    ['<a/><b/>', /second root/],
    ['<a x="1" x="2"/>', /repeated/],
    ['text', /outside the root/],
  ])('refuses %s', (xml, why) => {
    expect(() => parseXml(xml)).toThrow(XmlError);
    expect(() => parseXml(xml)).toThrow(why);
  });
});

describe('SVG plots', () => {
  const chart = {
    title: 'Throughput <vs> guests & more',
    xLabel: 'guests',
    yLabel: 'throughput (bit/s)',
    series: [
      { name: 'pv', points: [{ x: 1, y: 6e8 }, { x: 2, y: 7e8 }, { x: 4, y: 6.5e8 }] },
      { name: 'multiqueue', points: [{ x: 4, y: 9e8 }, { x: 1, y: 8e8 }, { x: 2, y: 8.5e8 }] },
      { name: 'cdna', points: [{ x: 1, y: 9.4e8 }] },
    ],
    ceiling: { y: 1e9, label: 'wire 1 Gb/s' },
  };

  it('writes a well-formed line chart with one polyline per architecture and a legend entry each', () => {
    const svg = lineChartSvg(chart);
    const els = allElements(parseXml(svg));
    expect(els[0].name).toBe('svg');
    const lines = els.filter((e) => e.name === 'polyline');
    expect(lines).toHaveLength(3);
    expect(lines[1].attrs.points.split(' ')).toHaveLength(3);
    const t = texts(svg);
    for (const s of ['pv', 'multiqueue', 'cdna', 'guests', 'throughput (bit/s)', 'Throughput <vs> guests & more']) expect(t).toContain(s);
  });

  it('places x ticks at the guest counts and draws points left to right', () => {
    const svg = lineChartSvg(chart);
    const t = texts(svg);
    for (const x of ['1', '2', '4']) expect(t).toContain(x);
    const mq = allElements(parseXml(svg)).filter((e) => e.name === 'polyline')[1].attrs.points.split(' ').map((p) => Number(p.split(',')[0]));
    expect([...mq].sort((a, b) => a - b)).toEqual(mq);
  });

  it('puts a higher throughput higher on the page (smaller y), and below the ceiling when under the wire', () => {
    const els = allElements(parseXml(lineChartSvg(chart)));
    const pts = els.filter((e) => e.name === 'polyline')[0].attrs.points.split(' ').map((p) => Number(p.split(',')[1]));
    expect(pts[1]).toBeLessThan(pts[0]); // 700 Mb/s above 600 Mb/s
    const ceiling = els.find((e) => e.attrs.class === 'ceiling')!;
    expect(Number(ceiling.attrs.y1)).toBeLessThan(Math.min(...pts));
  });

  it('writes a well-formed stacked bar chart whose segments of one bar stack to its total', () => {
    const svg = stackedBarSvg({
      title: 'CPU',
      yLabel: 'CPUs',
      segments: ['dom0', 'xen', 'guests', 'idle'],
      yMax: 4,
      bars: [
        { label: '1', group: 'pv', segments: { dom0: 1, xen: 0.5, guests: 0.5, idle: 2 } },
        { label: '2', group: 'pv', segments: { dom0: 1, xen: 1, guests: 1, idle: 1 } },
      ],
    });
    const els = allElements(parseXml(svg));
    const bars = els.filter((e) => e.attrs.class === 'bar');
    expect(bars).toHaveLength(2);
    for (const b of bars) {
      const rects = b.children.filter((c) => c.name === 'rect');
      expect(rects).toHaveLength(4);
      const height = rects.reduce((h, r) => h + Number(r.attrs.height), 0);
      const top = Math.min(...rects.map((r) => Number(r.attrs.y)));
      const bottom = Math.max(...rects.map((r) => Number(r.attrs.y) + Number(r.attrs.height)));
      expect(Math.abs(bottom - top - height)).toBeLessThan(0.05); // no gaps, no overlaps
    }
    const t = texts(svg);
    for (const s of ['CPUs', 'dom0', 'xen', 'guests', 'idle', 'pv', '4']) expect(t).toContain(s);
  });

  it('picks round tick steps that cover the maximum', () => {
    for (const max of [1.05e9, 3.7, 4, 812, 0.03]) {
      const t = niceTicks(max, 5);
      expect(t[0]).toBe(0);
      expect(t[t.length - 1]).toBeGreaterThanOrEqual(max);
      expect(t[t.length - 2]).toBeLessThan(max); // no empty tick above the top
      const step = t[1];
      expect(step / 10 ** Math.floor(Math.log10(step))).toSatisfy((m: number) => [1, 2, 5].some((x) => Math.abs(m - x) < 1e-9));
      t.forEach((v, i) => expect(v).toBeCloseTo(i * step, 9));
    }
    expect(niceTicks(4, 4)).toEqual([0, 1, 2, 3, 4]);
    expect(niceTicks(0)).toEqual([0, 1]);
  });
});
