import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { loadTopology } from '@vnetlab/topology';
import { describe, expect, it } from 'vitest';
import { InspectError, resolvePoint } from './inspect_api.js';

const topo = loadTopology(fileURLToPath(new URL('../../../examples/overlay.yaml', import.meta.url)));

const refusal = (point: string) => {
  try {
    resolvePoint(topo, point);
  } catch (e) {
    if (e instanceof InspectError) return { code: grpc.status[e.code], message: e.message };
    throw e;
  }
  return undefined;
};

describe('capture points', () => {
  it('are a guest, a NIC, a link, or a port of a host\'s driver-domain switch', () => {
    expect(resolvePoint(topo, 'vm-a1')).toBe('guest');
    expect(resolvePoint(topo, 'host-a/eth0')).toBe('nic');
    expect(resolvePoint(topo, 'underlay')).toBe('link');
    // the port itself is checked by the driver domain, which knows its vifs' domids
    expect(resolvePoint(topo, 'host-a/dom0/vxlan0')).toBe('port');
    expect(resolvePoint(topo, 'host-b/dom0/vif1.0')).toBe('port');
  });

  it('an unknown point is refused with every form and name that would do', () => {
    const r = refusal('vm-zz');
    expect(r?.code).toBe('NOT_FOUND');
    for (const s of ['vm-a1', 'host-a/eth0', 'underlay', 'host-a/dom0/PORT', 'host-c/dom0/PORT', 'vxlan0']) expect(r?.message).toContain(s);
  });

  it('a switch port of a host that does not exist names the hosts', () => {
    const r = refusal('host-z/dom0/vif1.0');
    expect(r?.code).toBe('NOT_FOUND');
    expect(r?.message).toContain('no host "host-z"');
    expect(r?.message).toContain('host-a, host-b, host-c');
  });
});
