import { describe, expect, it } from 'vitest';
import { BufferMachineMemory, GuestMemory, PAGE_SIZE } from '@vnetlab/memory';
import { CostTable } from '@vnetlab/cost';
import { Hypervisor, HypervisorError, INVALID_MFN, MIGRATION_PAGE_WIRE_BYTES, PageReceiver, PreCopy, domainMemoryHash, targetDomain, type PageBatch } from './index.js';

const PAGES = 64;

/** A source host with a guest whose pages hold a pattern, and a target host with an empty domain of the same size. */
function hosts() {
  const srcMem = new BufferMachineMemory(512);
  const src = new Hypervisor({ mem: srcMem, costs: new CostTable() });
  src.createDomain('dom0', 8);
  const vm = src.createDomain('vm', PAGES);
  const gm = new GuestMemory(srcMem, vm.p2m);
  for (let gfn = 0; gfn < PAGES; gfn++) gm.write(gfn, 0, Buffer.alloc(PAGE_SIZE, gfn + 1));
  const dstMem = new BufferMachineMemory(512);
  const dst = new Hypervisor({ mem: dstMem, costs: new CostTable() });
  dst.createDomain('dom0', 8);
  dst.createDomain('other', 3); // the target's domids and frames differ from the source's
  const moved = dst.createDomain('vm', PAGES);
  const receiver = new PageReceiver(dstMem, targetDomain(dst, moved.domid));
  const srcP2m = () => src.domain(vm.domid)!.p2m;
  const dstHash = () => domainMemoryHash(dstMem, dst.domain(moved.domid)!.p2m);
  return { srcMem, src, vm, gm, dst, moved, receiver, srcP2m, dstHash };
}

describe('pre-copy migration', () => {
  it('an idle guest converges after its first round and the stop-and-copy has nothing left', async () => {
    const h = hosts();
    const mig = new PreCopy(h.srcMem, h.srcP2m, { bandwidthBps: 1e9, startNs: 1000 });
    const sent: number[] = [];
    const stop = await mig.precopy(async (b) => h.receiver.put(b), (r) => void sent.push(r.pages));
    expect(stop).toBe('converged');
    expect(sent).toEqual([PAGES]);
    const last = await mig.stopAndCopy(async (b) => h.receiver.put(b));
    expect(last.pages).toBe(0);
    // every page at the reserved bandwidth: 4104 bytes at 1 Gb/s
    expect(mig.rounds[0]!.endNs - mig.rounds[0]!.startNs).toBeCloseTo((PAGES * MIGRATION_PAGE_WIRE_BYTES * 8 * 1e9) / 1e9, 6);
    expect(h.dstHash()).toBe(domainMemoryHash(h.srcMem, h.srcP2m()));
  });

  it('pages the guest writes during a round go again in the next, and only those', async () => {
    const h = hosts();
    const mig = new PreCopy(h.srcMem, h.srcP2m, { bandwidthBps: 1e9, startNs: 0, stopThresholdPages: 0, batchPages: 16 });
    let writes = 0;
    const send = async (b: PageBatch) => {
      h.receiver.put(b);
      // the guest runs while the round is on the wire: three pages written in the first round only
      if (mig.rounds.length === 0 && writes < 3) h.gm.write(10 + writes * 7, 5, Buffer.from([0xee, writes++]));
    };
    const r1 = await mig.round(send);
    expect(r1.report.pages).toBe(PAGES);
    expect(r1.report.dirtiedDuring).toBe(3);
    expect(r1.stop).toBeUndefined();
    const r2 = await mig.round(send);
    expect(r2.report.pages).toBe(3);
    expect(r2.stop).toBe('converged');
    await mig.stopAndCopy(send);
    expect(h.dstHash()).toBe(domainMemoryHash(h.srcMem, h.srcP2m()));
  });

  it('a guest dirtying pages faster than the link carries them never converges: pre-copy stops at the round limit', async () => {
    const h = hosts();
    const mig = new PreCopy(h.srcMem, h.srcP2m, { bandwidthBps: 1e8, startNs: 0, maxRounds: 5, maxFactor: 100, batchPages: 8 });
    let next = 0;
    // for every 8 pages sent the guest writes 12 (its dirty rate beats the link's)
    const send = async (b: PageBatch) => {
      h.receiver.put(b);
      for (let i = 0; i < 12; i++) h.gm.write(next++ % PAGES, 0, Buffer.from([next & 0xff]));
    };
    const stop = await mig.precopy(send);
    expect(stop).toBe('round_limit');
    expect(mig.rounds).toHaveLength(5);
    for (const r of mig.rounds.slice(1)) expect(r.pages).toBeGreaterThan(50);
    // the guest is suspended: its last writes go in the stop-and-copy and the copies agree
    const last = await mig.stopAndCopy(async (b) => h.receiver.put(b), mig.now + 5000);
    expect(last.pages).toBeGreaterThan(50);
    expect(last.startNs).toBe(mig.rounds[4]!.endNs + 5000);
    expect(h.dstHash()).toBe(domainMemoryHash(h.srcMem, h.srcP2m()));
  });

  it('stops once it has sent maxFactor times the memory', async () => {
    const h = hosts();
    const mig = new PreCopy(h.srcMem, h.srcP2m, { bandwidthBps: 1e9, startNs: 0, maxFactor: 2, batchPages: 8 });
    let n = 0;
    const stop = await mig.precopy(async (b) => {
      h.receiver.put(b);
      for (let i = 0; i < 8; i++) h.gm.write(n++ % PAGES, 0, Buffer.from([1, n & 0xff]));
    });
    expect(stop).toBe('sent_too_much');
    expect(mig.pagesSent).toBeGreaterThanOrEqual(2 * PAGES);
  });

  it('a page the domain gave away (flipped, no frame) is mirrored on the target, and comes back with its bytes', async () => {
    const h = hosts();
    const mig = new PreCopy(h.srcMem, h.srcP2m, { bandwidthBps: 1e9, startNs: 0, stopThresholdPages: 0 });
    expect(h.src.decreaseReservation(h.vm.domid, 7).status).toBe(0);
    await mig.round(async (b) => h.receiver.put(b));
    expect(h.dst.domain(h.moved.domid)!.p2m[7]).toBe(INVALID_MFN);
    expect(h.dstHash()).toBe(domainMemoryHash(h.srcMem, h.srcP2m()));
    // a fresh frame at gfn 7 on the source (not dirtied by a write: its frame changed)
    const pop = h.src.populatePhysmap(h.vm.domid, 7);
    expect(pop.status).toBe(0);
    h.srcMem.write(pop.mfn, 0, Buffer.alloc(PAGE_SIZE, 0x5a));
    const last = await mig.stopAndCopy(async (b) => h.receiver.put(b));
    expect(last.pages).toBe(1);
    expect(h.dst.domain(h.moved.domid)!.p2m[7]).not.toBe(INVALID_MFN);
    expect(h.dstHash()).toBe(domainMemoryHash(h.srcMem, h.srcP2m()));
  });

  it('the target refuses a batch with a page of the wrong size or a gfn outside the domain, and places none of it', () => {
    const h = hosts();
    const before = h.dstHash();
    expect(() => h.receiver.put({ gfns: [1, 2], data: [Buffer.alloc(PAGE_SIZE, 1), Buffer.alloc(10)] })).toThrow(HypervisorError);
    expect(() => h.receiver.put({ gfns: [PAGES], data: [Buffer.alloc(PAGE_SIZE)] })).toThrow(/outside/);
    expect(() => h.receiver.put({ gfns: [1], data: [] })).toThrow(/one data entry/);
    expect(h.dstHash()).toBe(before);
  });

  it('refuses a bandwidth that is not a positive rate', () => {
    const h = hosts();
    expect(() => new PreCopy(h.srcMem, h.srcP2m, { bandwidthBps: 0, startNs: 0 })).toThrow(/bandwidth/);
    expect(() => new PreCopy(h.srcMem, h.srcP2m, { bandwidthBps: 1e9, startNs: 0, maxRounds: 0 })).toThrow(/max rounds/);
  });
});
