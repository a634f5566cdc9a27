// Every I/O architecture on the same traffic (examples/architectures.yaml): each one moves the
// bytes, and the operations it is charged for are the ones its design performs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { example, startLab, vnetlabJson } from '../src/lab_kit.js';

interface BulkJson {
  throughputBps: number;
  flows: Array<{ flow: string; sentFrames: number; deliveredFrames: number; inFlight: number; drops: Record<string, number> }>;
  ledger: Array<{ host: string; domain: string; primitive: string; cycles: number; ops: number }>;
}

describe('emulated, pv, multiqueue, cdna, passthrough and native side by side', () => {
  let dir: string;
  let down: () => Promise<{ code: number }>;
  const runs = new Map<string, BulkJson>();
  const pairs: Array<[string, string, string]> = [
    ['emulated', 'emu-a', 'peer-b0'],
    ['pv', 'pv-a', 'peer-b0'],
    ['multiqueue', 'mq-a', 'peer-b0'],
    ['cdna', 'cdna-a', 'peer-b0'],
    ['passthrough', 'pt-a', 'peer-b1'],
    ['native', 'os-n', 'peer-b2'],
  ];

  beforeAll(async () => {
    ({ dir, down } = await startLab(example('architectures.yaml')));
    for (const [arch, src, dst] of pairs) runs.set(arch, await vnetlabJson<BulkJson>(['bulk', src, dst, '--proto', 'udp', '--bytes', '600000'], dir));
  }, 240_000);
  afterAll(async () => {
    await down();
  });

  const host = (arch: string) => (arch === 'native' ? 'host-n' : 'host-a');
  const ops = (arch: string, primitive: string, domain?: string) =>
    runs.get(arch)!.ledger.filter((x) => x.host === host(arch) && x.primitive === primitive && (!domain || x.domain === domain)).reduce((n, x) => n + x.ops, 0);
  const cyclesPerFrame = (arch: string) => {
    const r = runs.get(arch)!;
    return r.ledger.filter((x) => x.host === host(arch)).reduce((n, x) => n + x.cycles, 0) / r.flows[0].deliveredFrames;
  };

  it('every architecture delivers every datagram, within the wire', () => {
    for (const [arch] of pairs) {
      const r = runs.get(arch)!;
      expect(r.flows[0].deliveredFrames, arch).toBe(r.flows[0].sentFrames);
      // the 1 Gb/s wire's payload share; 1% of slack for the first frame's batching latency
      expect(r.throughputBps, arch).toBeLessThanOrEqual(1.01 * 1e9 * (1472 / 1538));
    }
  });

  // the bulk's own frames, not the odd broadcast (an ARP request is flooded to the bridge too)
  const frames = (arch: string) => runs.get(arch)!.flows[0].sentFrames;

  it('only pv grant-copies, and only pv and emulated go through the bridge', () => {
    expect(ops('pv', 'grant_copy_op')).toBeGreaterThanOrEqual(frames('pv'));
    expect(ops('pv', 'bridge_lookup', 'dom0')).toBeGreaterThanOrEqual(frames('pv'));
    for (const arch of ['emulated', 'multiqueue', 'cdna', 'passthrough', 'native']) expect(ops(arch, 'grant_copy_op'), arch).toBeLessThan(frames(arch) / 50);
    // the emulated NIC's device model sits on the bridge; the direct designs bypass it
    expect(ops('emulated', 'bridge_lookup', 'dom0')).toBeGreaterThanOrEqual(frames('emulated'));
    for (const arch of ['multiqueue', 'cdna', 'passthrough', 'native']) expect(ops(arch, 'bridge_lookup', 'dom0'), arch).toBeLessThan(frames(arch) / 50);
  });

  it('an emulated NIC traps on register accesses and its device model copies every frame in the driver domain', () => {
    expect(ops('emulated', 'vm_exit')).toBeGreaterThanOrEqual(frames('emulated'));
    expect(ops('emulated', 'device_emulation', 'dom0')).toBeGreaterThanOrEqual(frames('emulated'));
    expect(cyclesPerFrame('emulated')).toBeGreaterThan(cyclesPerFrame('pv'));
  });

  it('multiqueue maps grants, cdna validates buffers in the hypervisor, passthrough and native do neither', () => {
    expect(ops('multiqueue', 'grant_map')).toBeGreaterThanOrEqual(frames('multiqueue'));
    expect(ops('cdna', 'cdna_validate')).toBeGreaterThanOrEqual(frames('cdna'));
    expect(ops('cdna', 'grant_map')).toBeLessThan(frames('cdna') / 50);
    for (const arch of ['passthrough', 'native']) {
      expect(ops(arch, 'grant_map') + ops(arch, 'cdna_validate'), arch).toBeLessThan(frames(arch) / 50);
    }
    // a native host has no hypervisor share at all
    expect(runs.get('native')!.ledger.filter((x) => x.host === 'host-n' && x.domain === 'xen').length).toBe(0);
  });

  it('the cost per frame falls from the driver-domain designs to direct access, and passthrough stays near native', () => {
    expect(cyclesPerFrame('cdna')).toBeLessThan(cyclesPerFrame('pv'));
    expect(cyclesPerFrame('cdna')).toBeLessThan(cyclesPerFrame('multiqueue'));
    expect(cyclesPerFrame('passthrough')).toBeLessThan(cyclesPerFrame('cdna'));
    expect(cyclesPerFrame('passthrough') / cyclesPerFrame('native')).toBeLessThan(1.2);
  });
});
