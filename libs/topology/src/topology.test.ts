import { describe, it, expect } from 'vitest';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import {
  loadTopology, parseTopology, topologySummary, topologySchema, TopologyError, TOPOLOGY_SCHEMA_PATH, type TopologyProblem,
} from './index.js';

const EXAMPLE = fileURLToPath(new URL('../../../examples/two-hosts.yaml', import.meta.url));

function problemsOf(text: string, file = 'lab.yaml'): TopologyProblem[] {
  try {
    parseTopology(text, file);
  } catch (e) {
    expect(e).toBeInstanceOf(TopologyError);
    return (e as TopologyError).problems;
  }
  throw new Error('expected a TopologyError');
}

/** A valid one-host lab; tests break one thing in it at a time. */
const base = (over: { host?: string; guests?: string; links?: string; extraHost?: string } = {}) => `name: t
hosts:
  - name: h1
    cpus: { count: 2, hz: 2.0e9 }
    memory_mib: 256
${over.host ?? ''}    nics:
      - { name: eth0, rate_bps: 1e9 }
    guests:
${over.guests ?? `      - name: g1
        memory_mib: 32
        vcpus: [1]
        interfaces:
          - { arch: pv }
`}${over.extraHost ?? ''}${over.links ?? ''}`;

describe('the shipped example', () => {
  it('loads with two hosts of two PV guests each, joined by one 1 Gb/s 50 µs link', () => {
    const t = loadTopology(EXAMPLE);
    expect(t.name).toBe('two-hosts');
    expect(t.hosts.map((h) => h.name)).toEqual(['host-a', 'host-b']);
    for (const h of t.hosts) {
      expect(h.cpus).toEqual({ count: 4, hz: 2.8e9 });
      expect(h.driver_domain.cpus).toEqual([0]);
      expect(h.nics).toHaveLength(1);
      expect(h.nics[0]).toMatchObject({ name: 'eth0', rate_bps: 1e9 });
      expect(h.guests.map((g) => g.interfaces[0]!.rx_mode).sort()).toEqual(['copy', 'flip']);
      expect(new Set(h.guests.flatMap((g) => g.vcpus)).size).toBe(2);
      expect(h.guests.every((g) => g.interfaces[0]!.arch === 'pv')).toBe(true);
    }
    expect(t.hosts.flatMap((h) => h.guests.map((g) => [g.name, g.interfaces[0]!.ip]))).toEqual([
      ['vm-a1', '10.0.0.1'], ['vm-a2', '10.0.0.2'], ['vm-b1', '10.0.0.3'], ['vm-b2', '10.0.0.4'],
    ]);
    expect(t.links).toEqual([{ name: 'link0', ends: ['host-a/eth0', 'host-b/eth0'], form: 'cable', a: 'host-a/eth0', b: 'host-b/eth0', rate_bps: 1e9, latency_ns: 50_000, loss: 0 }]);
  });

  it('validates against the shipped JSON schema with a plain ajv', () => {
    const onDisk = JSON.parse(readFileSync(TOPOLOGY_SCHEMA_PATH, 'utf8'));
    expect(onDisk).toEqual(topologySchema);
    const validate = new Ajv().compile(onDisk);
    expect(validate(parse(readFileSync(EXAMPLE, 'utf8')))).toBe(true);
  });

  it('summarizes hosts, guests and links in a few lines', () => {
    const s = topologySummary(loadTopology(EXAMPLE));
    expect(s.split('\n')[0]).toBe('lab two-hosts: 2 hosts, 4 guests, 1 link');
    expect(s).toContain('guest vm-a2');
    expect(s).toContain('pv/flip 10.0.0.2');
    expect(s).toContain('link host-a/eth0 ↔ host-b/eth0: 1 Gb/s, 50 µs');
  });
});

describe('defaults', () => {
  it('fills rx_mode, queue_sets, driver domain, latency, loss, link rate and the interface NIC', () => {
    const t = parseTopology(base({ extraHost: `  - name: h2
    cpus: { count: 1, hz: 1e9 }
    memory_mib: 128
    nics: [{ name: eth0, rate_bps: 1e8 }]
`, links: 'links:\n  - { a: h1/eth0, b: h2/eth0 }\n' }));
    const h = t.hosts[0]!;
    expect(h.driver_domain).toEqual({ cpus: [0], memory_mib: 64, switch: 'bridge', superpages: false });
    expect(h.nics[0]!.queue_sets).toBe(1);
    expect(h.guests[0]!.interfaces[0]).toMatchObject({ rx_mode: 'copy', nic: 'eth0' });
    expect(t.hosts[1]!.guests).toEqual([]);
    expect(t.links[0]).toEqual({ name: 'link0', ends: ['h1/eth0', 'h2/eth0'], form: 'cable', a: 'h1/eth0', b: 'h2/eth0', rate_bps: 1e8, latency_ns: 50_000, loss: 0 });
  });

  it('generates MACs and IPs deterministically, unique, and around the ones given explicitly', () => {
    const guests = `      - name: g1
        memory_mib: 32
        vcpus: [1]
        interfaces:
          - { arch: pv }
          - { arch: pv, ip: 10.0.0.1, mac: "00:16:3E:01:01:01" }
          - { arch: pv }
`;
    const a = parseTopology(base({ guests }));
    const b = parseTopology(base({ guests }));
    expect(a).toEqual(b);
    const ifs = a.hosts[0]!.guests[0]!.interfaces;
    const macs = [...ifs.map((i) => i.mac), a.hosts[0]!.nics[0]!.mac];
    expect(new Set(macs).size).toBe(macs.length);
    expect(ifs[1]!.mac).toBe('00:16:3e:01:01:01'); // explicit, lower-cased
    expect(ifs[0]!.mac).not.toBe('00:16:3e:01:01:01'); // the generated one stepped around it
    for (const m of macs) expect(m).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    expect(ifs.map((i) => i.ip)).toEqual(['10.0.0.2', '10.0.0.1', '10.0.0.3']);
  });
});

describe('problems name the field path and the line', () => {
  it('a value of the wrong type', () => {
    const text = base().replace('memory_mib: 32', 'memory_mib: lots');
    const [p, ...rest] = problemsOf(text);
    expect(rest).toEqual([]);
    expect(p).toMatchObject({ path: 'hosts[0].guests[0].memory_mib', line: 10, message: 'must be an integer, got "lots"' });
  });

  it('a rate given as a string is refused with "must be a number" and the message carries FILE:LINE:COL', () => {
    const text = base().replace('rate_bps: 1e9', 'rate_bps: "1G"');
    try {
      parseTopology(text, 'lab.yaml');
      expect.unreachable();
    } catch (e) {
      expect((e as Error).message).toContain('lab.yaml:7:33: hosts[0].nics[0].rate_bps: must be a number, got "1G"');
    }
  });

  it('an unknown key, pointed at the key itself', () => {
    const text = base({ host: '    hyperthreads: true\n' });
    const [p] = problemsOf(text);
    expect(p).toMatchObject({ path: 'hosts[0].hyperthreads', line: 6, column: 5 });
    expect(p!.message).toMatch(/unknown key/);
  });

  it('a missing required field, reported at its parent', () => {
    const text = base().replace('        vcpus: [1]\n', '');
    const [p] = problemsOf(text);
    expect(p).toMatchObject({ path: 'hosts[0].guests[0].vcpus', line: 9, message: 'is required' });
  });

  it('a value outside an enum names the allowed ones', () => {
    const [p] = problemsOf(base().replace('{ arch: pv }', '{ arch: sriov }'));
    expect(p).toMatchObject({ path: 'hosts[0].guests[0].interfaces[0].arch', line: 13 });
    expect(p!.message).toContain('emulated, pv, multiqueue, cdna, passthrough, native');
  });

  it('a host name reused by a guest (one namespace for the lab)', () => {
    const text = base().replace('name: g1', 'name: h1');
    const [p] = problemsOf(text);
    expect(p).toMatchObject({ path: 'hosts[0].guests[0].name', line: 9 });
    expect(p!.message).toContain('duplicate name "h1"');
  });

  it('a link to a host or NIC that does not exist', () => {
    const ps = problemsOf(base({ links: 'links:\n  - { a: h1/eth0, b: h9/eth0 }\n  - { a: h1/eth1, b: h1/eth0 }\n' }));
    expect(ps.map((p) => [p.path, p.line])).toEqual([['links[0].b', 15], ['links[1].a', 16], ['links[1].b', 16]]);
    expect(ps[0]!.message).toBe('no host "h9" in the lab');
    expect(ps[1]!.message).toBe('no NIC "eth1" on host h1');
    expect(ps[2]!.message).toMatch(/already linked at links\[0\]\.a/);
  });

  it('a YAML syntax error, with its line', () => {
    const text = base().replace('vcpus: [1]', 'vcpus: [1');
    const ps = problemsOf(text);
    expect(ps.length).toBeGreaterThan(0);
    expect(ps[0]!.message).toMatch(/^YAML syntax/);
    expect(ps[0]!.line).toBeGreaterThanOrEqual(11);
  });

  it('a duplicate key in one mapping is a YAML error', () => {
    const ps = problemsOf(base().replace('memory_mib: 32', 'memory_mib: 32\n        memory_mib: 64'));
    expect(ps[0]).toMatchObject({ line: 11 });
    expect(ps[0]!.message).toMatch(/unique/i);
  });

  it('lists every schema problem, not just the first', () => {
    const text = base({ host: '    color: blue\n' }).replace('count: 2', 'count: two').replace('{ arch: pv }', '{ arch: pv, rx_mode: fast }');
    expect(problemsOf(text).map((p) => p.path)).toEqual(['hosts[0].cpus.count', 'hosts[0].color', 'hosts[0].guests[0].interfaces[0].rx_mode']);
  });
});

describe('semantic rules', () => {
  it('tx_mode: copy by default, map and noremap on pv only', () => {
    const topo = parseTopology(base().replace('{ arch: pv }', '{ arch: pv, tx_mode: noremap }'), 'lab.yaml');
    expect(topo.hosts[0]!.guests[0]!.interfaces[0]!.tx_mode).toBe('noremap');
    expect(parseTopology(base(), 'lab.yaml').hosts[0]!.guests[0]!.interfaces[0]!.tx_mode).toBe('copy');
    expect(topologySummary(topo)).toMatch(/pv\/copy tx noremap/);
    const ps = problemsOf(base().replace('{ arch: pv }', '{ arch: cdna, tx_mode: map }'));
    expect(ps.map((p) => p.path)).toContain('hosts[0].guests[0].interfaces[0].tx_mode');
    expect(ps.find((p) => p.path === 'hosts[0].guests[0].interfaces[0].tx_mode')!.message).toMatch(/pv transmit path/);
    expect(problemsOf(base().replace('{ arch: pv }', '{ arch: pv, tx_mode: remap }')).map((p) => p.path)).toEqual(['hosts[0].guests[0].interfaces[0].tx_mode']);
  });

  it('superpages: off for a Xen guest unless asked, on for a native host, never with page flipping', () => {
    expect(parseTopology(base(), 'lab.yaml').hosts[0]!.guests[0]!.superpages).toBe(false);
    expect(parseTopology(base().replace('vcpus: [1]', 'vcpus: [1]\n        superpages: true'), 'lab.yaml').hosts[0]!.guests[0]!.superpages).toBe(true);
    expect(parseTopology(base().replace('{ arch: pv }', '{ arch: native }'), 'lab.yaml').hosts[0]!.guests[0]!.superpages).toBe(true);
    const ps = problemsOf(base().replace('vcpus: [1]', 'vcpus: [1]\n        superpages: true').replace('{ arch: pv }', '{ arch: pv, rx_mode: flip }'));
    expect(ps.map((p) => p.path)).toEqual(['hosts[0].guests[0].interfaces[0].rx_mode']);
    expect(ps[0]!.message).toMatch(/splits a superpage/);
    // the driver domain flips its own pages to the guest
    const dd = problemsOf(base({ host: '    driver_domain: { superpages: true }\n' }).replace('{ arch: pv }', '{ arch: pv, rx_mode: flip }'));
    expect(dd.map((p) => p.message).join()).toMatch(/driver domain has superpages/);
  });

  it('the driver domain\'s own address: on its bridge, unique in the lab', () => {
    const dd = (line: string) => base({ host: `    driver_domain: { ${line} }\n` });
    const t = parseTopology(dd('ip: 10.0.0.200, superpages: true'), 'lab.yaml');
    expect(t.hosts[0]!.driver_domain).toMatchObject({ ip: '10.0.0.200', superpages: true });
    expect(problemsOf(dd('ip: 10.0.0.200, switch: vswitch')).map((p) => p.message).join()).toMatch(/sits on its bridge/);
    const dup = base({ host: '    driver_domain: { ip: 10.0.0.9 }\n', guests: '      - name: g1\n        memory_mib: 32\n        vcpus: [1]\n        interfaces:\n          - { arch: pv, ip: 10.0.0.9 }\n' });
    expect(problemsOf(dup).map((p) => p.message).join()).toMatch(/duplicate IP 10.0.0.9/);
    expect(problemsOf(dd('ip: 10.0.0.300')).map((p) => p.path)).toEqual(['hosts[0].driver_domain.ip']);
    // its first NIC given whole to a guest: no bridge there for the address
    expect(problemsOf(dd('ip: 10.0.0.200').replace('{ arch: pv }', '{ arch: passthrough }')).map((p) => p.message).join()).toMatch(/given whole to a guest/);
  });

  it('duplicate MACs and IPs across the lab', () => {
    const guests = `      - name: g1
        memory_mib: 32
        vcpus: [1]
        interfaces:
          - { arch: pv, ip: 10.0.0.9, mac: "00:16:3e:00:00:01" }
          - { arch: pv, ip: 10.0.0.9, mac: "00:16:3E:00:00:01" }
`;
    const ps = problemsOf(base({ guests }));
    expect(ps.map((p) => p.path)).toEqual(['hosts[0].guests[0].interfaces[1].ip', 'hosts[0].guests[0].interfaces[1].mac']); // in column order
    expect(ps[0]!.line).toBe(14);
  });

  it('vcpus and driver-domain cpus beyond the host\'s CPUs', () => {
    const ps = problemsOf(base({ host: '    driver_domain: { cpus: [2] }\n' }).replace('vcpus: [1]', 'vcpus: [1, 5]'));
    expect(ps.map((p) => p.path)).toEqual(['hosts[0].driver_domain.cpus[0]', 'hosts[0].guests[0].vcpus[1]']);
    expect(ps[1]!.message).toContain('cpu 5 does not exist');
  });

  it('an interface naming a NIC the host lacks', () => {
    const [p] = problemsOf(base().replace('{ arch: pv }', '{ arch: pv, nic: eth7 }'));
    expect(p).toMatchObject({ path: 'hosts[0].guests[0].interfaces[0].nic', line: 13 });
    expect(p!.message).toContain('no NIC "eth7" on host h1');
  });

  it('guests and driver domain that do not fit the host memory', () => {
    const [p] = problemsOf(base().replace('memory_mib: 32', 'memory_mib: 200'));
    expect(p).toMatchObject({ path: 'hosts[0].memory_mib', line: 5 });
    expect(p!.message).toContain('264 MiB needed');
  });

  it('more cdna interfaces on a NIC than it has queue sets, and a shared passthrough NIC', () => {
    const guests = `      - name: g1
        memory_mib: 16
        vcpus: [1]
        interfaces: [{ arch: cdna }, { arch: cdna }]
      - name: g2
        memory_mib: 16
        vcpus: [1]
        interfaces: [{ arch: passthrough }]
`;
    const ps = problemsOf(base({ guests }));
    expect(ps.map((p) => p.path)).toEqual(['hosts[0].nics[0].queue_sets', 'hosts[0].guests[0].interfaces[0].nic', 'hosts[0].guests[0].interfaces[1].nic']);
    expect(ps[0]!.message).toContain('2 multiqueue/cdna interfaces and passthrough virtual functions need one more each (3 in all)');
  });

  it('an unreadable file is a TopologyError naming the file', () => {
    expect(() => loadTopology('/nonexistent/lab.yaml')).toThrow(/\/nonexistent\/lab\.yaml: cannot read the file \(ENOENT\)/);
  });
});

describe('queue-set plan', () => {
  it('keeps queue set 0 for the bridge and hands the next ones to multiqueue and cdna interfaces in order', async () => {
    const { parseTopology: parse, queueSetPlan } = await import('./index.js');
    const t = parse(`name: q
hosts:
  - name: h
    cpus: { count: 4, hz: 2.8e9 }
    memory_mib: 256
    nics: [{ name: eth0, rate_bps: 1e9, queue_sets: 4 }, { name: eth1, rate_bps: 1e9 }]
    guests:
      - { name: a, memory_mib: 16, vcpus: [1], interfaces: [{ arch: multiqueue, mac: "00:16:3e:00:00:0a" }] }
      - { name: b, memory_mib: 16, vcpus: [2], interfaces: [{ arch: pv }] }
      - { name: c, memory_mib: 16, vcpus: [3], interfaces: [{ arch: cdna, mac: "00:16:3e:00:00:0c" }] }
      - { name: d, memory_mib: 16, vcpus: [3], interfaces: [{ arch: passthrough, nic: eth1, mac: "00:16:3e:00:00:0d" }] }
links: []
`);
    const plan = queueSetPlan(t.hosts[0]!).map((q) => `${q.nic}/${q.qs}:${q.owner}:${q.arch}:${q.macs.join(',')}:${q.promiscuous}`);
    expect(plan).toEqual([
      'eth0/0:dom0:bridge::true',
      'eth0/1:dom0:multiqueue:00:16:3e:00:00:0a:false',
      'eth0/2:c:cdna:00:16:3e:00:00:0c:false',
      'eth1/0:d:passthrough:00:16:3e:00:00:0d:false',
    ]);
  });
});

describe('offloads (pv virtual interface, physical NIC)', () => {
  it('are off unless the file turns them on, for interfaces and NICs alike', () => {
    const t = parseTopology(base(), 'lab.yaml');
    expect(t.hosts[0]!.nics[0]!.offload).toEqual({ csum: false, tso: false });
    expect(t.hosts[0]!.guests[0]!.interfaces[0]!.offload).toEqual({ csum: false, tso: false });
  });

  it('are read per pv interface and per NIC, and shown in the summary', () => {
    const text = base({ guests: `      - name: g1
        memory_mib: 32
        vcpus: [1]
        interfaces:
          - { arch: pv, offload: { csum: true, tso: true } }
` }).replace('{ name: eth0, rate_bps: 1e9 }', '{ name: eth0, rate_bps: 1e9, offload: { csum: true } }');
    const t = parseTopology(text, 'lab.yaml');
    expect(t.hosts[0]!.guests[0]!.interfaces[0]!.offload).toEqual({ csum: true, tso: true });
    expect(t.hosts[0]!.nics[0]!.offload).toEqual({ csum: true, tso: false });
    expect(topologySummary(t)).toMatch(/offload csum\+tso/);
    expect(topologySummary(t)).toMatch(/nic eth0 .* offload csum$/m);
  });

  it('an offload on an interface that is not pv, and an unknown offload key, are refused', () => {
    const notPv = problemsOf(base({ guests: `      - name: g1
        memory_mib: 32
        vcpus: [1]
        interfaces:
          - { arch: native, offload: { tso: true } }
` }));
    expect(notPv.map((p) => [p.path, p.message])).toContainEqual(['hosts[0].guests[0].interfaces[0].offload', expect.stringMatching(/pv's virtual interface/)]);
    const unknown = problemsOf(base({ guests: `      - name: g1
        memory_mib: 32
        vcpus: [1]
        interfaces:
          - { arch: pv, offload: { lro: true } }
` }));
    expect(unknown.some((p) => p.message.includes('unknown key'))).toBe(true);
  });
});

describe('redirect targets (seed 004)', () => {
  it('picks the other host on the failed NIC\'s link whose NIC is its driver domain\'s, and names the bridged guests', async () => {
    const { redirectTarget, bridgedGuests } = await import('./index.js');
    const t = parseTopology(`
name: r
hosts:
  - { name: a, cpus: { count: 2, hz: 1e9 }, memory_mib: 256, nics: [{ name: eth0, rate_bps: 1e9, queue_sets: 2 }], guests: [{ name: g1, memory_mib: 16, vcpus: [1], interfaces: [{ arch: pv, ip: 10.0.0.1 }] }, { name: g2, memory_mib: 16, vcpus: [1], interfaces: [{ arch: cdna, ip: 10.0.0.2 }] }] }
  - { name: b, cpus: { count: 2, hz: 1e9 }, memory_mib: 256, nics: [{ name: eth0, rate_bps: 1e9 }], guests: [{ name: g3, memory_mib: 16, vcpus: [1], interfaces: [{ arch: native, ip: 10.0.0.3 }] }] }
  - { name: c, cpus: { count: 2, hz: 1e9 }, memory_mib: 256, nics: [{ name: eth0, rate_bps: 1e9 }, { name: eth1, rate_bps: 1e9 }] }
links:
  - { ends: [a/eth0, b/eth0, c/eth1] }
`, 'r.yaml');
    // b's NIC belongs to its native guest: c is the one that can carry a's traffic
    expect(redirectTarget(t, 'a', 'eth0')).toEqual({ host: 'c', nic: 'eth1' });
    expect(redirectTarget(t, 'c', 'eth0')).toBeUndefined();
    expect(bridgedGuests(t.hosts[0]!, 'eth0').map((g) => g.name)).toEqual(['g1']);
  });
});

describe('SR-IOV virtual functions', () => {
  const host = (nicExtra: string, archB = 'passthrough') => `
name: vf
hosts:
  - name: h
    cpus: { count: 2, hz: 1e9 }
    memory_mib: 256
    nics: [{ name: eth0, rate_bps: 1e9, queue_sets: 3${nicExtra} }]
    guests:
      - { name: g1, memory_mib: 16, vcpus: [1], interfaces: [{ arch: passthrough, ip: 10.0.0.1 }] }
      - { name: g2, memory_mib: 16, vcpus: [1], interfaces: [{ arch: ${archB}, ip: 10.0.0.2 }] }
      - { name: g3, memory_mib: 16, vcpus: [1], interfaces: [{ arch: pv, ip: 10.0.0.3 }] }
`;
  it('gives each passthrough interface on an sriov NIC a queue set of its own, the physical function staying dom0\'s', async () => {
    const { queueSetPlan } = await import('./index.js');
    const t = parseTopology(host(', sriov: true'), 'vf.yaml');
    expect(queueSetPlan(t.hosts[0]!).map((q) => [q.qs, q.owner, q.arch])).toEqual([[0, 'dom0', 'bridge'], [1, 'g1', 'passthrough'], [2, 'g2', 'passthrough']]);
  });

  it('without sriov a passed-through NIC is not shared, and a native host cannot offer virtual functions', () => {
    expect(() => parseTopology(host(''), 'vf.yaml')).toThrow(/already passed through/);
    expect(() => parseTopology(host(', sriov: true', 'native'), 'vf.yaml')).toThrow(/cannot also offer virtual functions/);
  });
});
