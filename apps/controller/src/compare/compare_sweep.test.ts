import { describe, expect, it } from 'vitest';
import { parseTopology } from '@vnetlab/topology';
import { runSweep, type LabDriver, type SweepOptions } from './compare_sweep.js';
import type { TrafficLike } from './compare_figures.js';
import { CompareError } from './compare_topology.js';

const opts = (more: Partial<SweepOptions> = {}): SweepOptions => ({
  archs: ['pv', 'multiqueue'], guests: [2, 1], nics: 1, cpus: 4, hz: 2.8e9, proto: 'udp', direction: 'tx', bytesPerGuest: 1000, msgSize: 1000, ...more,
});

/** A lab that refuses some architectures and answers Traffic with one frame per pair. */
function fakeLab(refuse: string[] = []) {
  const log: string[] = [];
  let current = '';
  const lab: LabDriver = {
    async up(name, text) {
      const topo = parseTopology(text, `${name}.yaml`);
      const arch = topo.hosts[0].guests[0].interfaces[0].arch;
      log.push(`up ${name}`);
      if (refuse.includes(arch)) return { ok: false, error: `arch ${arch} is not supported yet` };
      current = name;
      return { ok: true };
    },
    async traffic(req): Promise<TrafficLike> {
      log.push(`traffic ${current} ${req.pairs.map((p) => `${p.src}>${p.dst}`).join(',')} ${req.bytes}`);
      return {
        bytesSent: req.bytes * req.pairs.length,
        bytesDelivered: req.bytes * req.pairs.length,
        startNs: 0,
        endNs: 1e6,
        throughputBps: req.bytes * req.pairs.length * 8e3,
        transfers: req.pairs.map((p, i) => ({ ...p, flow: `f${i}`, bytesSent: req.bytes, bytesDelivered: req.bytes, throughputBps: 0 })),
        ledger: req.pairs.map((p) => ({ host: 'sut', pcpu: 'cpu0', domain: 'dom0', primitive: 'bridge_lookup', cycles: 150, ops: 1 })),
        flows: req.pairs.map((_, i) => ({ flow: `f${i}`, sentFrames: 1, deliveredFrames: 1, drops: {}, inFlight: 0 })),
        cpus: [{ host: 'sut', pcpu: 'cpu0', domain: 'idle', util: 1 }],
      };
    },
    async down() {
      log.push(`down ${current}`);
    },
  };
  return { lab, log };
}

describe('the comparison sweep', () => {
  it('runs every (arch, guests) point once, in order, each lab up, traffic for all guests at once, down', async () => {
    const { lab, log } = fakeLab();
    const progress: string[] = [];
    const r = await runSweep(opts(), lab, (l) => progress.push(l));
    expect(r.points.map((p) => `${p.arch}/${p.guests}`)).toEqual(['pv/1', 'pv/2', 'multiqueue/1', 'multiqueue/2']);
    expect(log).toEqual([
      'up cmp-pv-1', 'traffic cmp-pv-1 vm1>peer1 1000', 'down cmp-pv-1',
      'up cmp-pv-2', 'traffic cmp-pv-2 vm1>peer1,vm2>peer1 1000', 'down cmp-pv-2',
      'up cmp-multiqueue-1', 'traffic cmp-multiqueue-1 vm1>peer1 1000', 'down cmp-multiqueue-1',
      'up cmp-multiqueue-2', 'traffic cmp-multiqueue-2 vm1>peer1,vm2>peer1 1000', 'down cmp-multiqueue-2',
    ]);
    expect(progress).toHaveLength(4);
    expect(progress[1]).toMatch(/^\[2\/4\] pv × 2 guests: /);
    expect(r.costs.bridge_lookup.source.length).toBeGreaterThan(10);
    expect(r.skipped).toEqual([]);
  });

  it('skips and reports an architecture the lab refuses to start, and goes on with the next', async () => {
    const { lab, log } = fakeLab(['cdna']);
    const progress: string[] = [];
    const r = await runSweep(opts({ archs: ['cdna', 'pv'] }), lab, (l) => progress.push(l));
    expect(r.points.map((p) => p.arch)).toEqual(['pv', 'pv']);
    expect(r.skipped).toEqual([{ arch: 'cdna', reason: 'the lab refused to start it: arch cdna is not supported yet' }]);
    expect(log.filter((l) => l.startsWith('up cmp-cdna'))).toHaveLength(1); // not tried again at 2 guests
    expect(progress[0]).toMatch(/skipped cdna \(1, 2 guests\)/);
    expect(progress[1]).toMatch(/^\[3\/4\] pv × 1 guest: /);
  });

  it('skips a point the generator cannot set up (native needs a NIC per guest) without starting a lab', async () => {
    const { lab, log } = fakeLab();
    const r = await runSweep(opts({ archs: ['native'], guests: [1, 2], nics: 1 }), lab);
    expect(r.points.map((p) => p.guests)).toEqual([1]);
    expect(r.skipped).toHaveLength(1);
    expect(r.skipped[0]).toMatchObject({ arch: 'native', guests: 2 });
    expect(log.filter((l) => l.startsWith('up'))).toEqual(['up cmp-native-1']);
  });

  it('brings the lab down even when the traffic fails, and reports the point', async () => {
    const { lab, log } = fakeLab();
    lab.traffic = async () => {
      throw new Error('10.0.250.1 does not answer');
    };
    const r = await runSweep(opts({ archs: ['pv'], guests: [1] }), lab);
    expect(r.points).toEqual([]);
    expect(r.skipped[0].reason).toMatch(/traffic failed: 10.0.250.1 does not answer/);
    expect(log).toEqual(['up cmp-pv-1', 'down cmp-pv-1']);
  });

  it('refuses bad options before starting anything', async () => {
    const { lab, log } = fakeLab();
    await expect(runSweep(opts({ archs: ['xen9'] }), lab)).rejects.toThrow(CompareError);
    await expect(runSweep(opts({ guests: [0] }), lab)).rejects.toThrow(/guest count/);
    await expect(runSweep(opts({ msgSize: 9000 }), lab)).rejects.toThrow(/msg-size/);
    expect(log).toEqual([]);
  });
});
