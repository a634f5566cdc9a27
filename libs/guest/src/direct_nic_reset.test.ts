// A device reset under a direct driver (an emulated NIC whose device model died with its
// driver domain): what sat on the TX ring is written off in order, what waited for a
// descriptor is handed back to be sent on the next device, and the old driver does no more.
import { describe, expect, it } from 'vitest';
import { CostTable, Cpu, Ledger } from '@vnetlab/cost';
import { BufferMachineMemory, GuestMemory, PagePool } from '@vnetlab/memory';
import { DESC_DD, DESC_EOP, QueueSetDriver, encodeWriteback } from '@vnetlab/nic';
import { DirectNic } from './direct_nic.js';

function driver() {
  const mem = new BufferMachineMemory(64);
  const gm = new GuestMemory(mem, Array.from({ length: 64 }, (_, i) => i));
  const pages = new PagePool(Array.from({ length: 60 }, (_, i) => i + 4));
  const [txG, rxG] = [pages.take()!, pages.take()!];
  // a 4-descriptor ring: 3 frames fit, the rest wait
  const queue = new QueueSetDriver<number>({
    read: (r, off, len) => gm.read(r === 'tx' ? txG : rxG, off, len),
    write: (r, off, data) => gm.write(r === 'tx' ? txG : rxG, off, data),
    busAddr: { tx: txG * 4096, rx: rxG * 4096 },
  }, 4);
  const nic = new DirectNic({
    mode: 'emulated', mem: gm, pages, cpu: new Cpu('cpu1', 2.8e9, new Ledger(new CostTable())), domain: 'emu', queue, busAddr: (gfn) => gfn * 4096,
    doorbell: () => undefined, // the device model is gone: nothing answers
  });
  // the device wrote a TX descriptor back (it sent the frame) before it went away
  const sent = (slot: number) => gm.write(txG, slot * 16, encodeWriteback({ doneNs: 1e9, len: 100, flags: DESC_EOP, status: DESC_DD }));
  return { nic, pages, sent };
}

const frame = (i: number) => Buffer.concat([Buffer.from('00163e000001' + '00163e000002' + '0800', 'hex'), Buffer.alloc(86, i)]);

describe('a direct driver whose device was reset', () => {
  it('writes off the frames on its TX ring in order, hands back those waiting for a descriptor, and does no more', async () => {
    const { nic, pages } = driver();
    const free0 = pages.free;
    const results = [0, 1, 2, 3, 4].map((i) => nic.transmit(frame(i), i));
    expect(results.filter((r) => r.queued)).toHaveLength(2);
    const waiting = nic.takeQueued();
    expect(waiting.map((w) => w.frame)).toEqual([frame(3), frame(4)]);
    const lost = nic.abandon();
    expect(lost.map((h) => h[14])).toEqual([0, 1, 2]);
    expect(lost.every((h, i) => h.equals(frame(i).subarray(0, 64)))).toBe(true);
    expect(nic.stats.drops).toEqual({ device_reset: 3 });
    // the waiting frames' pages came back; the lost ones' stay with the ring that is gone
    expect(pages.free).toBe(free0 - 3);
    expect((await nic.onEvent(10)).frames).toEqual([]);
    expect(nic.transmit(frame(9), 11).drop).toBe('device_reset');
  });

  it('counts as lost only what the device had not sent: a descriptor it wrote back left', () => {
    const { nic, sent } = driver();
    for (const i of [0, 1, 2]) nic.transmit(frame(i), i);
    sent(0); // written back, its completion not yet taken (it is due later in modelled time)
    expect(nic.abandon().map((h) => h[14])).toEqual([1, 2]);
    expect(nic.stats.drops).toEqual({ device_reset: 2 });
  });
});
