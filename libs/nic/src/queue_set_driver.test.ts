import { describe, expect, it } from 'vitest';
import { BufferMachineMemory } from '@vnetlab/memory';
import { machineMemoryDma } from './dma_port.js';
import { Nic } from './nic.js';
import { QueueSetDriver, type RingPages } from './queue_set_driver.js';

function rig() {
  const mem = new BufferMachineMemory(64);
  const rings: RingPages = {
    read: (r, off, len) => mem.read(r === 'tx' ? 1 : 2, off, len),
    write: (r, off, data) => mem.write(r === 'tx' ? 1 : 2, off, data),
    busAddr: { tx: 1 * 4096, rx: 2 * 4096 },
  };
  const drv = new QueueSetDriver<string>(rings, 8);
  const nic = new Nic({ name: 'eth0', lineRateBps: 1e9, queueSets: 2, dma: machineMemoryDma(mem) });
  nic.configureQueueSet(1, { ...drv.setup, macs: ['00:16:3e:00:00:01'] });
  return { mem, drv, nic };
}

const frame = (dst: string, n = 100) => {
  const b = Buffer.alloc(n, 0xab);
  Buffer.from(dst.split(':').map((x) => parseInt(x, 16))).copy(b, 0);
  return b;
};

describe('a queue-set driver over buffers it does not own', () => {
  it('sends a frame straight from the caller page and hands its cookie back once the wire is done', () => {
    const { mem, drv, nic } = rig();
    const f = frame('00:16:3e:00:00:99');
    mem.write(10, 128, f);
    const { tail, accepted } = drv.postTx([{ addr: 10 * 4096 + 128, len: f.length, cookie: 'guest-page-10' }]);
    expect(accepted).toBe(1);
    const r = nic.doorbellTx(1, tail, 1000);
    expect(r.wire[0].bytes.equals(f)).toBe(true);
    expect(drv.reclaim(r.wire[0].tNs - 1).tx).toEqual([]); // not before the wire finished
    const done = drv.reclaim(r.wire[0].tNs).tx;
    expect(done.map((c) => [c.cookie, c.ok, c.len])).toEqual([['guest-page-10', true, f.length]]);
  });

  it('receives into the posted buffer of the queue set that owns the MAC', () => {
    const { mem, drv, nic } = rig();
    const { tail } = drv.postRx([{ addr: 20 * 4096, len: 2048, cookie: 'rx-20' }]);
    nic.doorbellRx(1, tail, 0);
    const f = frame('00:16:3e:00:00:01', 300);
    nic.receive(f, 5000);
    const rx = drv.reclaim(5000).rx;
    expect(rx.map((c) => [c.cookie, c.len, c.ok])).toEqual([['rx-20', 300, true]]);
    expect(mem.read(20, 0, 300).equals(f)).toBe(true);
  });

  it('keeps one slot free and refuses what does not fit', () => {
    const { drv } = rig();
    const bufs = Array.from({ length: 10 }, (_, i) => ({ addr: (30 + i) * 4096, len: 64, cookie: `b${i}` }));
    expect(drv.postRx(bufs).accepted).toBe(7);
    expect(drv.rxFree()).toBe(0);
  });

  it('refuses a buffer with an impossible length', () => {
    const { drv } = rig();
    expect(() => drv.postTx([{ addr: 4096, len: 0, cookie: 'x' }])).toThrow(/out of range/);
  });
});

describe('VM-to-VM loopback inside a multiqueue NIC', () => {
  it('a unicast frame to a MAC another queue set owns is switched inside the NIC, not put on the wire', () => {
    const mem = new BufferMachineMemory(64);
    const ringsOf = (txMfn: number, rxMfn: number): RingPages => ({
      read: (r, off, len) => mem.read(r === 'tx' ? txMfn : rxMfn, off, len),
      write: (r, off, data) => mem.write(r === 'tx' ? txMfn : rxMfn, off, data),
      busAddr: { tx: txMfn * 4096, rx: rxMfn * 4096 },
    });
    const a = new QueueSetDriver<string>(ringsOf(1, 2), 8);
    const b = new QueueSetDriver<string>(ringsOf(3, 4), 8);
    const nic = new Nic({ name: 'eth0', lineRateBps: 1e9, queueSets: 2, dma: machineMemoryDma(mem) });
    nic.configureQueueSet(0, { ...a.setup, macs: ['00:16:3e:00:00:0a'] });
    nic.configureQueueSet(1, { ...b.setup, macs: ['00:16:3e:00:00:0b'] });
    nic.doorbellRx(1, b.postRx([{ addr: 20 * 4096, len: 2048, cookie: 'b-rx' }]).tail, 0);
    const f = frame('00:16:3e:00:00:0b', 200);
    mem.write(10, 0, f);
    const r = nic.doorbellTx(0, a.postTx([{ addr: 10 * 4096, len: 200, cookie: 'a-tx' }]).tail, 100);
    expect(r.wire).toEqual([]);
    expect(r.loopback.map((x) => x.qs)).toEqual([1]);
    const got = b.reclaim(r.loopback[0].tNs).rx;
    expect(got.map((c) => c.cookie)).toEqual(['b-rx']);
    expect(mem.read(20, 0, 200).equals(f)).toBe(true);
  });
});
