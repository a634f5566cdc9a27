import { describe, expect, it } from 'vitest';
import { hostSpec, parseTopology, routerRoutes } from './index.js';
import { problemsOf } from './problems.testkit.js';

/** A routing dom0 between a generator host and a guest; `dd` replaces its driver_domain line. */
const lab = (dd = '{ switch: router }') => `name: r
hosts:
  - name: gen
    cpus: { count: 2, hz: 2e9 }
    memory_mib: 256
    nics: [{ name: eth0, rate_bps: 1e9 }]
    guests:
      - { name: g, memory_mib: 16, vcpus: [1], interfaces: [{ arch: native, ip: 10.0.0.1, nic: eth0 }] }
  - name: dut
    cpus: { count: 3, hz: 2e9 }
    memory_mib: 256
    driver_domain: ${dd}
    nics: [{ name: eth0, rate_bps: 1e9 }, { name: eth1, rate_bps: 1e9, queue_sets: 2 }]
    guests:
      - { name: vm1, memory_mib: 16, vcpus: [1], interfaces: [{ arch: pv, ip: 10.0.0.11, nic: eth0 }] }
      - { name: ct, memory_mib: 16, vcpus: [2], interfaces: [{ arch: cdna, ip: 10.0.0.12, nic: eth1 }] }
links:
  - { a: gen/eth0, b: dut/eth0 }
`;


describe('a routing driver domain in the topology', () => {
  it('routes by default to each guest behind its switch through its vif and to each guest across a link through that NIC', () => {
    const t = parseTopology(lab(), 'lab.yaml');
    const dut = hostSpec(t, 'dut');
    expect(dut.driver_domain.switch).toBe('router');
    // the cdna guest drives its own queue set: not behind the router
    expect(routerRoutes(t, dut)).toEqual([{ dst: '10.0.0.11', dev: 'vm1' }, { dst: '10.0.0.1', dev: 'eth0' }]);
  });

  it('takes the routes it is given, policy routes included', () => {
    const t = parseTopology(lab('{ switch: router, routes: [{ dst: 10.0.0.1, dev: vm1, via: 10.0.0.11, iif: eth1 }, { dst: default, dev: eth0, via: 10.0.0.1 }] }'), 'lab.yaml');
    expect(routerRoutes(t, hostSpec(t, 'dut'))).toEqual([{ dst: '10.0.0.1', dev: 'vm1', via: '10.0.0.11', iif: 'eth1' }, { dst: 'default', dev: 'eth0', via: '10.0.0.1' }]);
  });

  it('refuses routes on a switching dom0, and a route naming what the host does not have', () => {
    expect(problemsOf(lab('{ switch: bridge, routes: [{ dst: 10.0.0.1, dev: eth0 }] }')).map((p) => p.message)).toEqual([expect.stringContaining('routes need driver_domain.switch: router')]);
    const msgs = problemsOf(lab('{ switch: router, routes: [{ dst: 10.0.0.1, dev: eth7 }, { dst: 10.0.0.1, dev: eth0, iif: vm9 }, { dst: 10.0.0.1, dev: eth0, via: 10.9.9.9 }, { dst: 10.9.9.9, dev: eth0 }] }')).map((p) => p.message);
    expect(msgs).toEqual([
      expect.stringContaining('dev "eth7" is neither a NIC nor a guest of host dut'),
      expect.stringContaining('iif "vm9" is neither a NIC nor a guest'),
      expect.stringContaining('via 10.9.9.9 is no guest\'s address'),
      expect.stringContaining('10.9.9.9 is no guest\'s address: give a via'),
    ]);
    expect(problemsOf(lab('{ switch: router, routes: [{ dst: nowhere, dev: eth0 }] }')).length).toBeGreaterThan(0);
  });
});
