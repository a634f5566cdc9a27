import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { loadTopology } from '@vnetlab/topology';
import { allElements, parseXml } from './compare/xml_check.js';
import { graph, graphDot, graphSvg, graphText } from './graph.js';

const example = (name: string) => loadTopology(fileURLToPath(new URL(`../../../examples/${name}`, import.meta.url)));

describe('vnetlab graph', () => {
  const overlay = example('overlay.yaml');

  it('outlines every host with its switch and VTEP, its guests with their VNI, the segment and the VNIs', () => {
    const s = graphText(overlay);
    expect(s.split('\n')[0]).toBe('lab overlay: 3 hosts, 6 guests, 1 link');
    expect(s).toContain('host-a  dom0 (vswitch, VTEP 172.16.0.1)');
    expect(s).toMatch(/vm-c2 +pv +10\.0\.0\.1 +00:16:3e:00:0a:01 via eth0 {2}vni 200/);
    expect(s).toContain('underlay (segment, 1 Gb/s, 50 µs): host-a/eth0, host-b/eth0, host-c/eth0');
    expect(s).toContain('100: vm-a1 (host-a), vm-b1 (host-b), vm-c1 (host-c)');
    expect(s).toContain('200: vm-a2 (host-a), vm-b2 (host-b), vm-c2 (host-c)');
  });

  it('writes DOT with a cluster per host and the segment as a node every NIC joins', () => {
    const d = graphDot(overlay);
    expect(d.startsWith('graph "overlay" {')).toBe(true);
    expect(d.trimEnd().endsWith('}')).toBe(true);
    expect(d.match(/subgraph "cluster_/g)).toHaveLength(3);
    for (const h of ['host-a', 'host-b', 'host-c']) expect(d).toContain(`"${h}/eth0" -- "link:underlay";`);
    expect(d).toContain('"vm-b1" -- "host-b/dom0";');
    // a two-host lab's cable is an edge between the two NICs
    expect(graphDot(example('two-hosts.yaml'))).toMatch(/"host-a\/eth0" -- "host-b\/eth0" \[label="link0/);
  });

  it('draws well-formed SVG: a box per host, guest and NIC, coloured by VNI, with a legend', () => {
    const svg = graphSvg(overlay);
    const root = parseXml(svg);
    expect(root.name).toBe('svg');
    const all = allElements(root);
    const texts = all.filter((e) => e.name === 'text').map((e) => e.text);
    for (const n of ['host-a', 'vm-a1', 'vm-c2', 'VNI 100', 'VNI 200']) expect(texts).toContain(n);
    // 3 hosts + 6 guests + 3 NICs + 3 dom0 + 2 legend swatches + the background
    expect(all.filter((e) => e.name === 'rect')).toHaveLength(18);
    const fills = new Set(all.filter((e) => e.name === 'rect').map((e) => e.attrs.fill));
    expect(fills.size).toBeGreaterThanOrEqual(4);
  });

  it('picks the format', () => {
    expect(graph(overlay, 'text')).toBe(graphText(overlay));
    expect(graph(overlay, 'svg').startsWith('<svg')).toBe(true);
  });
});
