import { describe, expect, it } from 'vitest';
import { parseTopology } from '@vnetlab/topology';
import { fault, migration } from '@vnetlab/proto';
import { Evacuation } from './evacuation.js';

const topo = parseTopology(`
name: e
hosts:
  - name: a
    cpus: { count: 4, hz: 1e9 }
    memory_mib: 512
    nics: [{ name: eth0, rate_bps: 1e9, queue_sets: 2 }]
    guests:
      - { name: g1, memory_mib: 16, vcpus: [1], interfaces: [{ arch: pv, ip: 10.0.0.1 }] }
      - { name: g2, memory_mib: 16, vcpus: [2], interfaces: [{ arch: pv, ip: 10.0.0.2 }] }
      - { name: g3, memory_mib: 16, vcpus: [3], interfaces: [{ arch: cdna, ip: 10.0.0.3 }] }
  - name: b
    cpus: { count: 2, hz: 1e9 }
    memory_mib: 256
    nics: [{ name: eth0, rate_bps: 1e9 }]
links:
  - { a: a/eth0, b: b/eth0 }
`, 'e.yaml');

const report = (g: string) => migration.MigrationReport.fromPartial({ guest: g, downtimeSeconds: 0.001 });
const faultReport = (phase: string, guests: string[]) => fault.FaultReport.fromPartial({ host: 'a', nic: 'eth0', phase, reason: 'link_down', targetHost: 'b', guests });

describe('evacuating the guests of a failed NIC', () => {
  it('migrates the pv guests still on the failed host to the redirect target, one after the other, once redirected', async () => {
    const where = new Map([['g1', 'a'], ['g2', 'a'], ['g3', 'a']]);
    const calls: string[] = [];
    let running = 0;
    const ev = new Evacuation(topo, {
      hostOf: (g) => where.get(g),
      migrate: async (g, to) => {
        running++;
        expect(running).toBe(1); // never two at once
        calls.push(`${g}->${to}`);
        await new Promise((r) => setTimeout(r, 5));
        where.set(g, to);
        running--;
        return report(g);
      },
    });
    await ev.onFaultReport(faultReport('held', ['g1', 'g2', 'g3']));
    expect(calls).toEqual([]); // holding is not yet a reason to move
    await ev.onFaultReport(faultReport('redirected', ['g1', 'g2', 'g3']));
    // the cdna guest stays: live migration is modelled for pv guests
    expect(calls).toEqual(['g1->b', 'g2->b']);
    expect(ev.records.map((r) => [r.guest, r.toHost, r.report?.guest])).toEqual([['g1', 'b', 'g1'], ['g2', 'b', 'g2']]);
    // a second report for guests that already left moves nothing
    await ev.onFaultReport(faultReport('redirected', ['g1', 'g2']));
    expect(calls).toHaveLength(2);
  });

  it('moves nobody when the target\'s own NIC failed too (a cut cable), or when the NIC came back before they could leave', async () => {
    const moved: string[] = [];
    const ev = new Evacuation(topo, { hostOf: () => 'a', migrate: async (g) => (moved.push(g), report(g)), settleMs: 20 });
    const both = ev.onFaultReport(faultReport('redirected', ['g1']));
    await ev.onFaultReport(fault.FaultReport.fromPartial({ host: 'b', nic: 'eth0', phase: 'detected', reason: 'link_down' }));
    await both;
    expect(moved).toEqual([]);
    expect(ev.records[0]!.error).toMatch(/b\/eth0 failed too/);
    await ev.onFaultReport(fault.FaultReport.fromPartial({ host: 'b', nic: 'eth0', phase: 'restored' }));
    const back = ev.onFaultReport(faultReport('redirected', ['g2']));
    await ev.onFaultReport(fault.FaultReport.fromPartial({ host: 'a', nic: 'eth0', phase: 'restored' }));
    await back;
    expect(moved).toEqual([]);
    expect(ev.records[1]!.error).toMatch(/came back/);
  });

  it('keeps going when one migration fails, and says why', async () => {
    const seen: string[] = [];
    const ev = new Evacuation(topo, {
      hostOf: () => 'a',
      migrate: async (g) => {
        if (g === 'g1') throw new Error('no bandwidth');
        return report(g);
      },
      onRecord: (r, phase) => seen.push(`${r.guest}:${phase}`),
    });
    await ev.onFaultReport(faultReport('redirected', ['g1', 'g2']));
    expect(ev.records.map((r) => [r.guest, r.error ?? 'ok'])).toEqual([['g1', 'no bandwidth'], ['g2', 'ok']]);
    expect(seen).toEqual(['g1:started', 'g1:failed', 'g2:started', 'g2:done']);
  });
});
