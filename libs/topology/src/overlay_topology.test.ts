import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { loadTopology, parseTopology, topologySummary } from './index.js';
import { problemsOf } from './problems.testkit.js';

const OVERLAY = fileURLToPath(new URL('../../../examples/overlay.yaml', import.meta.url));


/** Two vswitch hosts with an underlay each; `over` breaks one thing at a time. */
const lab = (over: { switchB?: string; underlayB?: string; vniB?: string; ipB?: string; links?: string } = {}) => `name: o
hosts:
  - name: h1
    cpus: { count: 2, hz: 2e9 }
    memory_mib: 256
    driver_domain: { switch: vswitch }
    underlay: { ip: 172.16.0.1 }
    nics: [{ name: eth0, rate_bps: 1e9 }]
    guests:
      - { name: g1, memory_mib: 16, vcpus: [1], interfaces: [{ arch: pv, ip: 10.0.0.1, mac: "00:16:3e:00:00:01", vni: 7 }] }
  - name: h2
    cpus: { count: 2, hz: 2e9 }
    memory_mib: 256
    driver_domain: { switch: ${over.switchB ?? 'vswitch'} }
${over.underlayB ?? '    underlay: { ip: 172.16.0.2 }\n'}    nics: [{ name: eth0, rate_bps: 1e9 }]
    guests:
      - { name: g2, memory_mib: 16, vcpus: [1], interfaces: [{ arch: pv, ip: ${over.ipB ?? '10.0.0.1'}, mac: "00:16:3e:00:00:01"${over.vniB ?? ', vni: 8'} }] }
${over.links ?? 'links:\n  - { ends: [h1/eth0, h2/eth0] }\n'}`;

describe('overlay topology', () => {
  it('loads the shipped overlay example: three vswitch hosts on one segment, two VNIs on every host', () => {
    const t = loadTopology(OVERLAY);
    expect(t.hosts.map((h) => [h.name, h.driver_domain.switch, h.underlay?.ip])).toEqual([
      ['host-a', 'vswitch', '172.16.0.1'], ['host-b', 'vswitch', '172.16.0.2'], ['host-c', 'vswitch', '172.16.0.3'],
    ]);
    for (const h of t.hosts) expect(h.guests.map((g) => g.interfaces[0]!.vni).sort()).toEqual([100, 200]);
    expect(t.links).toHaveLength(1);
    expect(t.links[0]).toMatchObject({ name: 'underlay', form: 'segment', ends: ['host-a/eth0', 'host-b/eth0', 'host-c/eth0'] });
    expect(topologySummary(t)).toContain('link host-a/eth0 ↔ host-b/eth0 ↔ host-c/eth0: 1 Gb/s, 50 µs, loss 0 (segment underlay)');
  });

  it('fills the underlay MTU and keeps the interface VNI', () => {
    const t = parseTopology(lab());
    expect(t.hosts[0]!.underlay).toEqual({ ip: '172.16.0.1', mtu: 1500 });
    expect(t.hosts[0]!.guests[0]!.interfaces[0]!.vni).toBe(7);
  });

  it('lets the same MAC and IP live in two VNIs, but not twice in one', () => {
    expect(() => parseTopology(lab())).not.toThrow();
    const ps = problemsOf(lab({ vniB: ', vni: 7' }));
    expect(ps.map((p) => p.message).sort()).toEqual([
      expect.stringContaining('duplicate IP 10.0.0.1 in VNI 7'),
      expect.stringContaining('duplicate MAC 00:16:3e:00:00:01 in VNI 7'),
    ]);
    // and an untunnelled interface may reuse an address of a VNI
    expect(() => parseTopology(lab({ vniB: '' }))).not.toThrow();
  });

  it('a VNI needs the vswitch and an underlay address on its host', () => {
    const [p] = problemsOf(lab({ switchB: 'bridge' }));
    expect(p).toMatchObject({ path: 'hosts[1].guests[0].interfaces[0].vni' });
    expect(p!.message).toContain('needs driver_domain.switch: vswitch');
    const [q] = problemsOf(lab({ underlayB: '' }));
    expect(q!.message).toContain('needs an underlay address on host h2');
  });

  it('two hosts of one VNI need a link between their NICs', () => {
    const text = lab({ vniB: ', vni: 7', ipB: '10.0.0.2', links: 'links: []\n' }).replace('mac: "00:16:3e:00:00:01", vni: 7', 'mac: "00:16:3e:00:00:02", vni: 7');
    const ps = problemsOf(text);
    expect(ps.map((p) => [p.path, p.message])).toEqual([['hosts[1].underlay', 'hosts h1 and h2 both have VNI 7, but no link joins h1/eth0 and h2/eth0']]);
  });

  it('a link is either a cable (a, b) or a segment (ends), and a segment end appears once', () => {
    const both = problemsOf(lab({ links: 'links:\n  - { a: h1/eth0, b: h2/eth0, ends: [h1/eth0, h2/eth0] }\n' }));
    expect(both.some((p) => p.path === 'links[0]' && p.message.includes('not both'))).toBe(true);
    const dup = problemsOf(lab({ links: 'links:\n  - { ends: [h1/eth0, h2/eth0, h1/eth0] }\n' }));
    expect(dup.map((p) => [p.path, p.message])).toEqual([['links[0].ends[2]', 'h1/eth0 is already an end of this link']]);
  });
});
