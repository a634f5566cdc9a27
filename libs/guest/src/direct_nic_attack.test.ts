// A refused cdna-rx-foreign attack leaves the attacker's receive path as it was. Found by the lab
// fuzzer: one such attack, every buffer refused by the hypervisor, stopped the guest from ever
// posting receive buffers again, and it received nothing more.
import { describe, expect, it } from 'vitest';
import { CostTable, Cpu, Ledger } from '@vnetlab/cost';
import { BufferMachineMemory, GuestMemory, PagePool } from '@vnetlab/memory';
import { DirectNic, type CdnaPort } from './direct_nic.js';

/**
 * A CDNA port that validates like the hypervisor (buffers in the guest's own gfns accepted, in
 * machine frames refused) and whose NIC has used every posted receive buffer by the next interrupt.
 */
function fakeCdna(enqueued: number[]): CdnaPort {
  let tail = 0;
  let posted: number[] = [];
  return {
    enqueue: async (rx, bufs) => {
      const ok = bufs.filter((b) => b.gfn !== undefined);
      if (rx && ok.length > 0) {
        enqueued.push(ok.length);
        posted.push(...ok.map((b) => b.gfn!));
      }
      tail = (tail + ok.length) % 256;
      return { status: ok.length === bufs.length ? 0 : -22, tail, accepted: ok.length, charges: [] };
    },
    complete: async (rx) => {
      if (!rx) return { status: 0, completed: [], charges: [] };
      const done = posted.map((gfn) => ({ gfn, doneLen: 60, doneNs: 1, ok: true }));
      posted = [];
      return { status: 0, completed: done, charges: [] };
    },
  };
}

describe('a cdna guest after a refused foreign-buffer attack', () => {
  it('goes on posting its own receive buffers, and receives', async () => {
    const enqueued: number[] = [];
    const mem = new GuestMemory(new BufferMachineMemory(256), Array.from({ length: 256 }, (_, i) => i));
    const nic = new DirectNic({
      mode: 'cdna', mem, pages: new PagePool(Array.from({ length: 200 }, (_, i) => i + 8)), cpu: new Cpu('cpu1', 2.8e9, new Ledger(new CostTable())),
      domain: 'cdna-a', cdna: fakeCdna(enqueued), doorbell: () => undefined, rxBuffers: 16,
    });
    await nic.start(0);
    expect(enqueued).toEqual([16]);
    const r = await nic.hostileRx([1 << 24, (1 << 24) + 1], 10);
    expect(r).toMatchObject({ attempts: 2, accepted: 0, refused: 2 });
    // the next interrupt: 16 frames received, and 16 fresh buffers posted for the next ones
    const got = await nic.onEvent(20);
    expect(got.frames).toHaveLength(16);
    expect(enqueued).toEqual([16, 16]);
    expect((await nic.onEvent(30)).frames).toHaveLength(16);
  });
});
