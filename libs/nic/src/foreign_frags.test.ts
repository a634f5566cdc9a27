import { TCP_ACK, buildTcpFrame, type SkBuff } from '@vnetlab/frames';
import { BufferMachineMemory, GuestMemory, PagePool } from '@vnetlab/memory';
import { describe, expect, it } from 'vitest';
import { Nic, NicDriver, NicError, decodeDescriptor, machineMemoryDma } from './index.js';

const pattern = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + 3) & 0xff));
const tcpFrame = (payload: number) => buildTcpFrame({
  srcMac: '00:16:3e:00:00:01', dstMac: '02:00:00:00:00:0b', srcIp: '10.0.0.1', dstIp: '10.0.0.2', id: 1,
  segment: { srcPort: 40000, dstPort: 5001, seq: 7, ack: 1, flags: TCP_ACK, window: 65535, payload: pattern(payload) },
});

/** dom0 owns machine frames 0..63; frames 64.. are a guest's, which dom0's p2m does not name. */
function setup() {
  const mem = new BufferMachineMemory(128);
  const p2m = Array.from({ length: 64 }, (_, i) => i);
  const gm = new GuestMemory(mem, p2m);
  const pool = new PagePool(p2m.slice(1));
  const nic = new Nic({ name: 'nic0', lineRateBps: 1e9, queueSets: 1, dma: machineMemoryDma(mem) });
  const driver = new NicDriver({ mem: gm, pool });
  nic.configureQueueSet(0, { ...driver.setup(), macs: [], promiscuous: true });
  return { mem, gm, pool, nic, driver };
}

describe('NicDriver with foreign fragments (a guest\'s frames mapped for DMA)', () => {
  it('puts the guest frame\'s machine address on the descriptor, sends the bytes, and never hands the frame to dom0\'s pool', () => {
    const { mem, gm, pool, nic, driver } = setup();
    const f = tcpFrame(1400);
    // header in a dom0 page, payload where the guest wrote it (mfn 100, offset 256)
    const hdr = pool.take()!;
    gm.write(hdr, 0, f.subarray(0, 128));
    mem.write(100, 256, f.subarray(128));
    let done = 0;
    const skb: SkBuff = { bytes: f, tNs: 0, frags: [{ gfn: hdr, offset: 0, len: 128 }, { gfn: -1, mfn: 100, offset: 256, len: f.length - 128 }], zerocopy: { done: () => done++ } };
    const t = driver.transmit([skb], 0);
    expect(t.copiedBytes).toBe(0);
    expect(decodeDescriptor(gm.read(driver['txRingGfn'], 16, 16)).addr).toBe(100 * 4096 + 256);
    const r = nic.doorbellTx(0, t.tail, 0);
    expect(r.wire.map((w) => w.bytes.equals(f))).toEqual([true]);
    expect(done).toBe(0); // the guest's frame is still the NIC's until the completion is reaped
    const irq = driver.onInterrupt(r.wire[0]!.tNs);
    expect(irq.freedGfns).toEqual([hdr]); // its own header page only: the guest's frame is not dom0's
    expect(done).toBe(1);
  });

  it('a frame abandoned on the ring (the NIC died) releases its foreign frames too', () => {
    const { mem, driver } = setup();
    mem.write(90, 0, tcpFrame(200));
    let done = 0;
    const skb: SkBuff = { bytes: tcpFrame(200), tNs: 0, frags: [{ gfn: -1, mfn: 90, offset: 0, len: tcpFrame(200).length }], zerocopy: { done: () => done++ } };
    driver.transmit([skb], 0);
    const r = driver.abandonTx();
    expect(r.lost).toHaveLength(1);
    expect(r.freedGfns).toEqual([]);
    expect(done).toBe(1);
  });

  it('refuses a foreign fragment whose mfn is not a frame number', () => {
    const { driver } = setup();
    expect(() => driver.transmit([{ bytes: Buffer.alloc(60), tNs: 0, frags: [{ gfn: -1, mfn: -5, offset: 0, len: 60 }] }], 0)).toThrow(NicError);
  });
});
