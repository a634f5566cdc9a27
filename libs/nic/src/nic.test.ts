import { BROADCAST_MAC, ETHERTYPE_IPV4, encodeEthernet, type SkBuff } from '@vnetlab/frames';
import { BufferMachineMemory, GuestMemory, PagePool } from '@vnetlab/memory';
import { describe, expect, it } from 'vitest';
import {
  DESC_DD,
  DESC_EOP,
  DESC_SIZE,
  DmaFault,
  Nic,
  NicDriver,
  NicError,
  RX_HOLD_LIMIT,
  decodeWriteback,
  machineMemoryDma,
  wireTimeNs,
  type DmaPort,
} from './index.js';

const MAC_A = '02:00:00:00:00:0a';
const MAC_B = '02:00:00:00:00:0b';
const MAC_X = '02:00:00:00:00:99';
const GBPS = 1e9;

function frame(dst: string, payloadBytes: number, fill = 0x5a): Buffer {
  return encodeEthernet({ dst, src: MAC_X, ethertype: ETHERTYPE_IPV4, payload: Buffer.alloc(payloadBytes, fill) });
}

/** A domain owning machine frames [firstMfn, firstMfn + pages), all of them in its pool. */
function domain(mem: BufferMachineMemory, firstMfn: number, pages: number) {
  const p2m = Array.from({ length: pages }, (_, i) => firstMfn + i);
  return { gm: new GuestMemory(mem, p2m), pool: new PagePool(p2m.map((_, gfn) => gfn)) };
}

/** One host: machine memory, a NIC, and one driver per queue set, each in its own domain. */
function host(
  opts: {
    queueSets?: number;
    coalesceNs?: number;
    dma?: (inner: DmaPort) => DmaPort;
    size?: number;
    post?: boolean;
    rxPacketBufferBytes?: number;
    rxHoldLimit?: number;
  } = {},
) {
  const qsCount = opts.queueSets ?? 1;
  const mem = new BufferMachineMemory(64 * qsCount);
  const inner = machineMemoryDma(mem);
  const nic = new Nic({
    name: 'nic0',
    lineRateBps: GBPS,
    queueSets: qsCount,
    dma: opts.dma ? opts.dma(inner) : inner,
    coalesceNs: opts.coalesceNs,
    rxPacketBufferBytes: opts.rxPacketBufferBytes,
    rxHoldLimit: opts.rxHoldLimit,
  });
  const macs = [MAC_A, MAC_B];
  const drivers = Array.from({ length: qsCount }, (_, qs) => {
    const d = domain(mem, qs * 64, 64);
    const driver = new NicDriver({ mem: d.gm, pool: d.pool, size: opts.size ?? 16 });
    const rings = driver.setup();
    nic.configureQueueSet(qs, { ...rings, macs: [macs[qs]!] });
    if (opts.post !== false) nic.doorbellRx(qs, driver.postRxBuffers(), 0);
    return { driver, rings, ...d };
  });
  return { mem, nic, drivers };
}

describe('Nic transmit', () => {
  it('sends exactly the bytes the driver queued, copied or zero copy', () => {
    const { nic, drivers } = host();
    const { driver, gm, pool } = drivers[0]!;
    const copied = frame(MAC_B, 100, 1);
    // A frame already sitting in one of the domain's pages goes out without a copy.
    const pageGfn = pool.take()!;
    const zc = frame(MAC_B, 200, 2);
    gm.write(pageGfn, 64, zc);
    const freeBefore = pool.free;
    const skbs: SkBuff[] = [
      { bytes: copied, tNs: 0 },
      { bytes: zc, tNs: 0, page: { gfn: pageGfn, offset: 64 } },
    ];
    const posted = driver.transmit(skbs, 0);
    expect(posted.queued).toBe(2);
    expect(posted.copiedBytes).toBe(copied.length);
    const out = nic.doorbellTx(0, posted.tail, 1000);
    expect(out.wire.map((w) => w.bytes)).toEqual([copied, zc]);
    expect(out.completions).toBe(2);

    const irq = driver.onInterrupt(out.wire[1]!.tNs);
    expect(irq.txCompleted).toBe(2);
    expect(irq.freedGfns).toEqual([pageGfn]); // the caller's page comes back to its owner
    expect(pool.free).toBe(freeBefore); // the bounce page went back to the pool
  });

  it('a frame longer than a page is copied into several descriptors and sent whole', () => {
    const { nic, drivers } = host();
    const big = frame(MAC_B, 9000, 7);
    const posted = drivers[0]!.driver.transmit([{ bytes: big, tNs: 0 }], 0);
    expect(posted.descriptors).toBe(3);
    const out = nic.doorbellTx(0, posted.tail, 0);
    expect(out.wire).toHaveLength(1);
    expect(out.wire[0]!.bytes.equals(big)).toBe(true);
  });

  it('spaces frames at line rate: 1500-byte frames at 1 Gb/s are 12,160 ns apart', () => {
    const { nic, drivers } = host();
    const { driver } = drivers[0]!;
    // 1496 bytes in the buffer + 4 bytes FCS appended by the NIC = a 1500-byte frame.
    const skbs = [0, 1, 2].map((i) => ({ bytes: frame(MAC_B, 1496 - 14, i), tNs: 0 }));
    const out = nic.doorbellTx(0, driver.transmit(skbs, 0).tail, 5000);
    const t = out.wire.map((w) => w.tNs);
    expect(t[1]! - t[0]!).toBe(12_160);
    expect(t[2]! - t[1]!).toBe(12_160);
    expect(t[0]).toBe(5000 + 12_160);
    // A later doorbell while the wire is busy queues behind the earlier frames.
    const more = nic.doorbellTx(0, driver.transmit([{ bytes: frame(MAC_B, 1482), tNs: 0 }], 0).tail, 6000);
    expect(more.wire[0]!.tNs).toBe(t[2]! + 12_160);
  });

  it('pads short frames to the Ethernet minimum in wire time but not in bytes', () => {
    expect(wireTimeNs(42, GBPS)).toBe(wireTimeNs(60, GBPS));
    expect(wireTimeNs(60, GBPS)).toBe(84 * 8);
  });

  it('a ring that is full rejects the frames that do not fit, in order', () => {
    const { drivers } = host({ size: 4 });
    const skbs = [0, 1, 2, 3, 4].map((i) => ({ bytes: frame(MAC_B, 50, i), tNs: 0 }));
    const posted = drivers[0]!.driver.transmit(skbs, 0);
    expect(posted.queued).toBe(3); // one slot always stays empty
    expect(posted.rejected).toEqual(skbs.slice(3));
  });

  it('with the link down, frames are dropped with reason link_down and still completed', () => {
    const { nic, drivers } = host();
    nic.setLink(false, 0);
    const sent = frame(MAC_B, 64);
    const out = nic.doorbellTx(0, drivers[0]!.driver.transmit([{ bytes: sent, tNs: 0 }], 0).tail, 0);
    expect(out.wire).toEqual([]);
    // the dropped frame's own bytes, so that its flow is charged the loss
    expect(out.drops).toEqual([{ reason: 'link_down', bytes: sent }]);
    expect(drivers[0]!.driver.onInterrupt(0).txCompleted).toBe(1);
    expect(nic.receive(frame(MAC_A, 64), 0).drops).toEqual([{ reason: 'link_down' }]);
    expect(nic.drops().link_down).toBe(2);
  });
});

describe('Nic receive', () => {
  it('demultiplexes by destination MAC to the queue set that owns it', () => {
    const { nic, drivers } = host({ queueSets: 2 });
    const toB = frame(MAC_B, 300, 3);
    expect(nic.receive(toB, 100)).toEqual({ delivered: [1], drops: [] });
    const b = drivers[1]!.driver.onInterrupt(200);
    expect(b.rx).toHaveLength(1);
    expect(b.rx[0]!.bytes.equals(toB)).toBe(true);
    // The skb's page holds the same bytes in B's memory: it can be passed on without a copy.
    expect(drivers[1]!.gm.read(b.rx[0]!.page!.gfn, 0, toB.length).equals(toB)).toBe(true);
    expect(drivers[0]!.driver.onInterrupt(200).rx).toHaveLength(0);
    expect(nic.counters(1).rxFrames).toBe(1);
    expect(nic.counters(0).rxFrames).toBe(0);
  });

  it('broadcast reaches every queue set; unknown unicast is dropped as no_queue', () => {
    const { nic, drivers } = host({ queueSets: 2 });
    expect(nic.receive(frame(BROADCAST_MAC, 28), 0).delivered).toEqual([0, 1]);
    expect(drivers[0]!.driver.onInterrupt(1).rx).toHaveLength(1);
    expect(drivers[1]!.driver.onInterrupt(1).rx).toHaveLength(1);
    expect(nic.receive(frame(MAC_X, 28), 2)).toEqual({ delivered: [], drops: [{ reason: 'no_queue' }] });
    expect(nic.drops().no_queue).toBe(1);
  });

  it('a promiscuous queue set receives unicast that no queue set owns, but not frames another owns', () => {
    const mem = new BufferMachineMemory(128);
    const nic = new Nic({ name: 'nic0', lineRateBps: GBPS, queueSets: 2, dma: machineMemoryDma(mem) });
    const d0 = domain(mem, 0, 64);
    const d1 = domain(mem, 64, 64);
    const drv0 = new NicDriver({ mem: d0.gm, pool: d0.pool, size: 8 });
    const drv1 = new NicDriver({ mem: d1.gm, pool: d1.pool, size: 8 });
    nic.configureQueueSet(0, { ...drv0.setup(), macs: [MAC_A], promiscuous: true });
    nic.configureQueueSet(1, { ...drv1.setup(), macs: [MAC_B] });
    nic.doorbellRx(0, drv0.postRxBuffers(), 0);
    nic.doorbellRx(1, drv1.postRxBuffers(), 0);
    expect(nic.receive(frame(MAC_X, 40), 0).delivered).toEqual([0]);
    expect(nic.receive(frame(MAC_B, 40), 0).delivered).toEqual([1]);
  });

  it('with no posted RX buffer the frame waits in the packet buffer and is written when the driver posts one, at the doorbell time', () => {
    const { nic, drivers } = host({ post: false });
    const f = frame(MAC_A, 64, 4);
    expect(nic.receive(f, 0)).toEqual({ delivered: [0], drops: [] });
    expect(nic.nextInterruptNs()).toBeUndefined(); // nothing written yet
    expect(nic.doorbellRx(0, drivers[0]!.driver.postRxBuffers(), 10)).toEqual({ delivered: [0], drops: [] });
    expect(nic.takeInterrupts(100)).toEqual([{ tNs: 10, bitVector: 1 }]); // DMA at the doorbell's modelled time
    const irq = drivers[0]!.driver.onInterrupt(100);
    expect(irq.rx.map((s) => s.bytes)).toEqual([f]);
    // With buffers posted, the next frame goes straight in.
    expect(nic.receive(frame(MAC_A, 64), 200)).toEqual({ delivered: [0], drops: [] });
    expect(nic.counters(0)).toMatchObject({ rxFrames: 2, drops: {} });
  });

  it('once the posted buffers are used up the next frame waits, and goes into the first buffer the driver reposts', () => {
    const { nic, drivers } = host({ size: 4 }); // 3 buffers posted
    const results = [0, 1, 2, 3].map((i) => nic.receive(frame(MAC_A, 64, i), i));
    expect(results).toEqual([0, 1, 2, 3].map(() => ({ delivered: [0], drops: [] })));
    expect(nic.ringState(0)).toMatchObject({ rxHead: 3, rxTail: 3 }); // the fourth is held, not written
    const irq = drivers[0]!.driver.onInterrupt(10);
    expect(irq.rx.map((s) => s.bytes[14])).toEqual([0, 1, 2]);
    for (const skb of irq.rx) drivers[0]!.pool.give(skb.page!.gfn);
    expect(nic.doorbellRx(0, irq.rxTail, 10).delivered).toEqual([0]);
    expect(drivers[0]!.driver.onInterrupt(20).rx.map((s) => s.bytes[14])).toEqual([3]);
    expect(nic.counters(0).drops).toEqual({});
  });

  it('a frame longer than the posted buffer is dropped as oversize, and the buffer stays posted', () => {
    const { nic, drivers } = host();
    const big = frame(MAC_A, 3000);
    const r = nic.receive(big, 0);
    expect(r.delivered).toEqual([]);
    expect(r.drops).toEqual([{ qs: 0, reason: 'oversize', bytes: big }]);
    expect(nic.receive(frame(MAC_A, 64), 1).delivered).toEqual([0]);
    expect(drivers[0]!.driver.onInterrupt(2).rx).toHaveLength(1);
    expect(nic.counters(0).drops).toEqual({ oversize: 1 });
  });

  it('a frame longer than the NIC maximum is dropped as oversize before any queue set', () => {
    const { nic } = host();
    expect(nic.receive(Buffer.alloc(nic.maxFrameBytes + 1), 0)).toEqual({ delivered: [], drops: [{ reason: 'oversize' }] });
  });
});

describe('Nic receive packet buffer', () => {
  /** 1500 bytes in the buffer; the fill byte numbers the frame. */
  const FRAME_BYTES = 1500;
  const full = (i: number) => frame(MAC_A, FRAME_BYTES - 14, i);

  it('a frame held with no descriptor is delivered byte-identical after the doorbell, its interrupt at the later doorbell time', () => {
    const { nic, drivers } = host({ post: false });
    const f = frame(MAC_A, 400, 0x3c);
    const sent = Buffer.from(f);
    expect(nic.receive(sent, 1000)).toEqual({ delivered: [0], drops: [] });
    sent.fill(0xee); // the sender reuses its buffer: the NIC already holds its own copy
    expect(nic.takeInterrupts(1_000_000)).toEqual([]);
    expect(nic.doorbellRx(0, drivers[0]!.driver.postRxBuffers(), 5000)).toEqual({ delivered: [0], drops: [] });
    expect(nic.nextInterruptNs()).toBe(5000);
    expect(nic.takeInterrupts(4999)).toEqual([]);
    expect(nic.takeInterrupts(5000)).toEqual([{ tNs: 5000, bitVector: 1 }]);
    const irq = drivers[0]!.driver.onInterrupt(5000);
    expect(irq.rx).toHaveLength(1);
    expect(irq.rx[0]!.bytes.equals(f)).toBe(true);
    expect(nic.counters(0)).toMatchObject({ rxFrames: 1, rxBytes: f.length });
  });

  it('a doorbell whose modelled time is before the held frames arrived delivers them with no extra delay', () => {
    const { nic, drivers } = host({ post: false, coalesceNs: 0 });
    const arrivals = [10_000, 20_000, 35_000];
    for (const [i, t] of arrivals.entries()) nic.receive(frame(MAC_A, 64, i), t);
    // The driver posted at 2000 in modelled time; its doorbell reached the NIC after the frames in wall time.
    expect(nic.doorbellRx(0, drivers[0]!.driver.postRxBuffers(), 2000).delivered).toEqual([0, 0, 0]);
    expect(nic.takeInterrupts(1_000_000).map((i) => i.tNs)).toEqual(arrivals);
    expect(drivers[0]!.driver.onInterrupt(1_000_000).rx.map((s) => s.bytes[14])).toEqual([0, 1, 2]);
  });

  it('held frames beyond the posted descriptors keep waiting, in order, for the next doorbell', () => {
    const { nic, drivers } = host({ post: false, size: 4 }); // 3 descriptors per doorbell
    const { driver, pool } = drivers[0]!;
    for (let i = 0; i < 5; i++) nic.receive(frame(MAC_A, 64, i), i * 1000);
    expect(nic.doorbellRx(0, driver.postRxBuffers(), 10_000).delivered).toEqual([0, 0, 0]);
    const first = driver.onInterrupt(10_000);
    expect(first.rx.map((s) => s.bytes[14])).toEqual([0, 1, 2]);
    for (const skb of first.rx) pool.give(skb.page!.gfn);
    // A frame arriving now queues behind the two still held, not ahead of them.
    expect(nic.receive(frame(MAC_A, 64, 5), 11_000).delivered).toEqual([0]);
    expect(nic.doorbellRx(0, first.rxTail, 12_000).delivered).toEqual([0, 0, 0]);
    expect(driver.onInterrupt(12_000).rx.map((s) => s.bytes[14])).toEqual([3, 4, 5]);
  });

  it('a burst that arrives long before any descriptor overflows the packet buffer: only what fits survives', () => {
    const bufBytes = 4000;
    const { nic, drivers } = host({ post: false, rxPacketBufferBytes: bufBytes });
    const gap = wireTimeNs(FRAME_BYTES, GBPS); // back to back at line rate
    const frames = Array.from({ length: 10 }, (_, i) => full(i));
    for (const [i, f] of frames.entries()) expect(nic.receive(f, i * gap).delivered).toEqual([0]);
    const fit = Math.floor(bufBytes / FRAME_BYTES);
    const r = nic.doorbellRx(0, drivers[0]!.driver.postRxBuffers(), 1e9);
    expect(r.delivered).toHaveLength(fit);
    expect(r.drops).toEqual(frames.slice(fit).map((bytes) => ({ qs: 0, reason: 'rx_no_buffer', bytes })));
    expect(nic.counters(0).drops).toEqual({ rx_no_buffer: frames.length - fit });
    expect(nic.takeInterrupts(1e9)).toEqual([{ tNs: 1e9, bitVector: 1 }]);
    const rx = drivers[0]!.driver.onInterrupt(1e9).rx;
    expect(rx.map((s) => s.bytes)).toEqual(frames.slice(0, fit));
  });

  it('descriptors posted mid-burst: frames before the post fill the packet buffer, frames after it pass straight through', () => {
    const bufBytes = 4000;
    const { nic, drivers } = host({ post: false, rxPacketBufferBytes: bufBytes, coalesceNs: 0 });
    const gap = wireTimeNs(FRAME_BYTES, GBPS);
    const arrivals = Array.from({ length: 10 }, (_, i) => i * gap);
    const postedNs = arrivals[5]! + 1;
    for (const [i, t] of arrivals.entries()) nic.receive(full(i), t);
    const r = nic.doorbellRx(0, drivers[0]!.driver.postRxBuffers(), postedNs);

    const before = arrivals.map((t, i) => ({ t, i })).filter((a) => a.t < postedNs);
    const after = arrivals.map((t, i) => ({ t, i })).filter((a) => a.t >= postedNs);
    const keptBefore = before.slice(0, Math.floor(bufBytes / FRAME_BYTES));
    const expected = [...keptBefore, ...after];
    expect(r.delivered).toHaveLength(expected.length);
    expect(r.drops.map((d) => d.bytes![14])).toEqual(before.slice(keptBefore.length).map((a) => a.i));
    expect(r.drops.every((d) => d.reason === 'rx_no_buffer')).toBe(true);
    // The buffered frames are DMA'd when the descriptors exist; the later ones on arrival.
    expect(nic.takeInterrupts(1e9).map((i) => i.tNs)).toEqual([postedNs, ...after.map((a) => a.t)]);
    expect(drivers[0]!.driver.onInterrupt(1e9).rx.map((s) => s.bytes[14])).toEqual(expected.map((a) => a.i));
  });

  it('the packet buffer is per queue set: a queue set with posted buffers takes the whole burst', () => {
    const bufBytes = 4000;
    const { nic, drivers } = host({ queueSets: 2, post: false, rxPacketBufferBytes: bufBytes });
    nic.doorbellRx(1, drivers[1]!.driver.postRxBuffers(), 0);
    const gap = wireTimeNs(FRAME_BYTES, GBPS);
    const n = 8;
    for (let i = 0; i < n; i++) nic.receive(frame(BROADCAST_MAC, FRAME_BYTES - 14, i), i * gap);
    const r = nic.doorbellRx(0, drivers[0]!.driver.postRxBuffers(), 1e9);
    expect(r.delivered).toHaveLength(Math.floor(bufBytes / FRAME_BYTES));
    expect(nic.counters(1)).toMatchObject({ rxFrames: n, drops: {} });
  });

  it('more frames waiting for a doorbell than the hold limit are dropped as rx_hold_overflow', () => {
    const limit = 4;
    const { nic, drivers } = host({ post: false, rxHoldLimit: limit });
    const frames = Array.from({ length: limit + 2 }, (_, i) => frame(MAC_A, 64, i));
    const results = frames.map((f, i) => nic.receive(f, i));
    expect(results.slice(0, limit).every((r) => r.delivered.length === 1)).toBe(true);
    expect(results.slice(limit)).toEqual(frames.slice(limit).map((bytes) => ({ delivered: [], drops: [{ qs: 0, reason: 'rx_hold_overflow', bytes }] })));
    expect(nic.drops()).toEqual({ rx_hold_overflow: 2 });
    // The held ones are still written once the driver posts.
    expect(nic.doorbellRx(0, drivers[0]!.driver.postRxBuffers(), 100).delivered).toHaveLength(limit);
    expect(drivers[0]!.driver.onInterrupt(100).rx.map((s) => s.bytes[14])).toEqual([0, 1, 2, 3]);
  });

  it('the default hold limit is RX_HOLD_LIMIT (8192) frames per queue set', () => {
    const { nic } = host({ post: false });
    expect(nic.rxHoldLimit).toBe(RX_HOLD_LIMIT);
    expect(RX_HOLD_LIMIT).toBe(8192);
    const f = frame(MAC_A, 46);
    let held = 0;
    for (let i = 0; i < RX_HOLD_LIMIT; i++) held += nic.receive(f, i).delivered.length;
    expect(held).toBe(RX_HOLD_LIMIT);
    expect(nic.receive(f, RX_HOLD_LIMIT).drops).toEqual([{ qs: 0, reason: 'rx_hold_overflow', bytes: f }]);
  });

  it('refuses a bad packet buffer size or hold limit with a NicError', () => {
    const dma = machineMemoryDma(new BufferMachineMemory(1));
    const mk = (o: { rxPacketBufferBytes?: number; rxHoldLimit?: number }) => () => new Nic({ name: 'n', lineRateBps: GBPS, queueSets: 1, dma, ...o });
    expect(mk({ rxPacketBufferBytes: -1 })).toThrow(NicError);
    expect(mk({ rxPacketBufferBytes: Number.NaN })).toThrow(/rxPacketBufferBytes/);
    expect(mk({ rxHoldLimit: 1.5 })).toThrow(/rxHoldLimit/);
  });
});

describe('Nic interrupts', () => {
  it('coalescing bounds the interrupt count: one per queue set per coalesceNs', () => {
    const burst = (coalesceNs: number) => {
      const { nic } = host({ coalesceNs, size: 32 });
      for (let i = 0; i < 20; i++) nic.receive(frame(MAC_A, 64, i), 1000 + i * 1000); // 20 frames, 1 us apart
      return nic.takeInterrupts(1_000_000);
    };
    const coalesced = burst(50_000);
    expect(coalesced.map((i) => i.tNs)).toEqual([1000, 51_000]);
    expect(burst(0)).toHaveLength(20);
  });

  it('an interrupt is not due before its time; nextInterruptNs says when it will be', () => {
    const { nic } = host();
    nic.receive(frame(MAC_A, 64), 1000);
    nic.takeInterrupts(1000);
    nic.receive(frame(MAC_A, 64), 2000);
    expect(nic.takeInterrupts(40_000)).toEqual([]);
    expect(nic.nextInterruptNs()).toBe(51_000);
    expect(nic.takeInterrupts(60_000)).toEqual([{ tNs: 51_000, bitVector: 1 }]);
    expect(nic.nextInterruptNs()).toBeUndefined();
  });

  it('queue sets with work at the same time share one interrupt with a bit each', () => {
    const { nic } = host({ queueSets: 2 });
    nic.receive(frame(BROADCAST_MAC, 28), 500);
    expect(nic.takeInterrupts(500)).toEqual([{ tNs: 500, bitVector: 0b11 }]);
    expect(nic.counters(0).interrupts).toBe(1);
  });

  it('a transmit completion raises its interrupt when the frame has left the wire', () => {
    const { nic, drivers } = host();
    const out = nic.doorbellTx(0, drivers[0]!.driver.transmit([{ bytes: frame(MAC_B, 1000), tNs: 0 }], 0).tail, 0);
    expect(nic.takeInterrupts(out.wire[0]!.tNs - 1)).toEqual([]);
    expect(nic.takeInterrupts(out.wire[0]!.tNs)).toEqual([{ tNs: out.wire[0]!.tNs, bitVector: 1 }]);
  });
});

describe('Nic DMA faults', () => {
  /** An IOMMU-like port that refuses every machine frame in `refused`. */
  const refusing = (refused: (mfn: number) => boolean) => (inner: DmaPort): DmaPort => ({
    read(addr, len) {
      if (refused(Math.floor(addr / 4096))) throw new DmaFault(addr, len, 'not mapped');
      return inner.read(addr, len);
    },
    write(addr, data) {
      if (refused(Math.floor(addr / 4096))) throw new DmaFault(addr, data.length, 'not mapped');
      inner.write(addr, data);
    },
  });

  it('a refused RX buffer yields a dma_fault drop, no crash, and the driver reposts it', () => {
    // Ring pages are gfn 0 and 1 (mfn 0, 1); the first RX buffer is mfn 2.
    const { nic, drivers, mem } = host({ dma: refusing((mfn) => mfn === 2) });
    const before = mem.hashFrame(2);
    const f = frame(MAC_A, 64);
    expect(nic.receive(f, 0).drops).toEqual([{ qs: 0, reason: 'dma_fault', bytes: f }]);
    expect(mem.hashFrame(2)).toBe(before); // nothing was written into the refused frame
    expect(nic.lastDmaFault?.detail).toMatch(/not mapped/);
    // The next buffer works; the refused one comes back to the driver as an error.
    expect(nic.receive(frame(MAC_A, 64), 1).delivered).toEqual([0]);
    const irq = drivers[0]!.driver.onInterrupt(2);
    expect(irq.rxErrors).toBe(1);
    expect(irq.rx).toHaveLength(1);
    expect(nic.counters(0).drops.dma_fault).toBe(1);
  });

  it('a refused TX buffer drops the frame as dma_fault and completes its descriptor with an error', () => {
    const { nic, drivers } = host({ dma: refusing((mfn) => mfn === 40) });
    const { driver, gm } = drivers[0]!;
    gm.write(40, 0, frame(MAC_B, 64)); // gfn 40 is mfn 40 in this domain
    const posted = driver.transmit([{ bytes: frame(MAC_B, 64), tNs: 0, page: { gfn: 40, offset: 0 } }, { bytes: frame(MAC_B, 64, 9), tNs: 0 }], 0);
    const out = nic.doorbellTx(0, posted.tail, 0);
    expect(out.drops).toEqual([{ reason: 'dma_fault' }]);
    expect(out.wire).toHaveLength(1);
    const irq = driver.onInterrupt(100_000);
    expect(irq.txCompleted).toBe(2);
    expect(irq.txErrors).toBe(1);
    expect(irq.freedGfns).toEqual([40]);
  });

  it('an unreachable TX ring drops as dma_fault without sending anything', () => {
    const { nic, drivers } = host({ dma: refusing((mfn) => mfn === 0) }); // the TX ring page
    const out = nic.doorbellTx(0, drivers[0]!.driver.transmit([{ bytes: frame(MAC_B, 64), tNs: 0 }], 0).tail, 0);
    expect(out).toEqual({ wire: [], loopback: [], completions: 0, drops: [{ reason: 'dma_fault' }] });
  });

  it('a descriptor naming an address beyond machine memory is a dma_fault, not a crash', () => {
    const mem = new BufferMachineMemory(8);
    const nic = new Nic({ name: 'nic0', lineRateBps: GBPS, queueSets: 1, dma: machineMemoryDma(mem) });
    nic.configureQueueSet(0, { txRingAddr: 0, rxRingAddr: 4096, size: 8, macs: [MAC_A] });
    // A hostile driver writes a descriptor for machine frame 1000 directly into the ring.
    const desc = Buffer.alloc(16);
    desc.writeBigUInt64LE(1000n * 4096n, 0);
    desc.writeUInt16LE(64, 8);
    desc.writeUInt16LE(1, 10);
    mem.write(0, 0, desc);
    expect(nic.doorbellTx(0, 1, 0).drops).toEqual([{ reason: 'dma_fault' }]);
  });
});

describe('Nic input checks', () => {
  it('refuses a bad tail, an unknown queue set and a bad ring size with a NicError', () => {
    const { nic } = host();
    expect(() => nic.doorbellTx(0, 16, 0)).toThrow(NicError);
    expect(() => nic.doorbellTx(0, 1.5, 0)).toThrow(/tail/);
    expect(() => nic.doorbellRx(3, 0, 0)).toThrow(/queue set 3/);
    expect(() => nic.configureQueueSet(0, { txRingAddr: 0, rxRingAddr: 0, size: 12, macs: [] })).toThrow(/power of two/);
    expect(() => nic.receive(frame(MAC_A, 10), -1)).toThrow(/tNs/);
  });

  it('a driver refuses an empty frame and a page outside its domain', () => {
    const { drivers } = host();
    const { driver } = drivers[0]!;
    expect(() => driver.transmit([{ bytes: Buffer.alloc(0), tNs: 0 }], 0)).toThrow(NicError);
    expect(() => driver.transmit([{ bytes: frame(MAC_B, 40), tNs: 0, page: { gfn: 5000, offset: 0 } }], 0)).toThrow(RangeError);
  });
});

/** The writeback of ring slot `slot`, read from machine memory as the driver would. */
function writebackAt(mem: BufferMachineMemory, ringAddr: number, slot: number) {
  const addr = ringAddr + slot * DESC_SIZE;
  return decodeWriteback(mem.read(Math.floor(addr / 4096), addr % 4096, DESC_SIZE));
}

describe('Descriptor writeback in modelled time', () => {
  it('the NIC writes the TX completion time (the frame leaving the wire) over the address field', () => {
    const { nic, drivers, mem } = host();
    const { driver, rings } = drivers[0]!;
    const skbs = [frame(MAC_B, 1000, 1), frame(MAC_B, 9000, 2)].map((bytes) => ({ bytes, tNs: 0 }));
    const posted = driver.transmit(skbs, 0);
    expect(posted.descriptors).toBe(4); // 1 + 3: the jumbo frame spans three pages
    const out = nic.doorbellTx(0, posted.tail, 2000);
    const wbs = [0, 1, 2, 3].map((slot) => writebackAt(mem, rings.txRingAddr, slot));
    expect(wbs.map((w) => w.doneNs)).toEqual([out.wire[0]!.tNs, out.wire[1]!.tNs, out.wire[1]!.tNs, out.wire[1]!.tNs]);
    expect(wbs.every((w) => (w.status & DESC_DD) !== 0)).toBe(true);
    expect(wbs.map((w) => w.flags & DESC_EOP)).toEqual([DESC_EOP, 0, 0, DESC_EOP]);
    expect(wbs.reduce((n, w) => n + w.len, 0)).toBe(skbs[0]!.bytes.length + skbs[1]!.bytes.length);
    // The bytes 0..7 hold the time as a float64, not the buffer's machine address any more.
    const raw = mem.read(Math.floor(rings.txRingAddr / 4096), rings.txRingAddr % 4096, 8);
    expect(raw.readDoubleLE(0)).toBe(out.wire[0]!.tNs);
  });

  it('the NIC writes the RX DMA time over the address field: the arrival, or the doorbell if the buffer came later', () => {
    const { nic, drivers, mem } = host({ post: false });
    const { driver, rings } = drivers[0]!;
    const held = frame(MAC_A, 100, 1);
    nic.receive(held, 1000); // no buffer yet: it waits in the packet buffer
    nic.doorbellRx(0, driver.postRxBuffers(), 7000);
    const direct = frame(MAC_A, 200, 2);
    nic.receive(direct, 9000);
    expect(writebackAt(mem, rings.rxRingAddr, 0)).toEqual({ doneNs: 7000, len: held.length, flags: DESC_EOP, status: DESC_DD });
    expect(writebackAt(mem, rings.rxRingAddr, 1)).toEqual({ doneNs: 9000, len: direct.length, flags: DESC_EOP, status: DESC_DD });
  });

  it('a TX burst longer than the wire carries by the first interrupt: that interrupt reclaims only what the wire finished, later ones the rest', () => {
    const { nic, drivers } = host({ size: 16 });
    const { driver, pool } = drivers[0]!;
    const poolBefore = pool.free;
    const skbs = Array.from({ length: 10 }, (_, i) => ({ bytes: frame(MAC_B, 1486, i), tNs: 0 }));
    const posted = driver.transmit(skbs, 0);
    expect(posted.queued).toBe(10);
    const freeQueued = driver.txFree();
    const out = nic.doorbellTx(0, posted.tail, 0);
    const doneNs = out.wire.map((w) => w.tNs);
    expect(out.completions).toBe(10); // every descriptor is written back now, in wall time

    const [first] = nic.takeInterrupts(doneNs[0]!);
    expect(first).toEqual({ tNs: doneNs[0], bitVector: 1 });
    const r1 = driver.onInterrupt(first!.tNs);
    expect(r1.txCompleted).toBe(1);
    expect(r1.txPendingAfter).toBe(9);
    expect(driver.txFree()).toBe(freeQueued + 1);
    // Calling again at the same time finds nothing more: the rest is still on the wire.
    expect(driver.onInterrupt(first!.tNs).txCompleted).toBe(0);

    let reclaimed = r1.txCompleted;
    let prevNs = first!.tNs;
    for (let next = nic.nextInterruptNs(); next !== undefined; next = nic.nextInterruptNs()) {
      for (const irq of nic.takeInterrupts(next)) {
        const r = driver.onInterrupt(irq.tNs);
        // Exactly the frames whose last bit left the wire in (previous interrupt, this one].
        expect(r.txCompleted).toBe(doneNs.filter((t) => t > prevNs && t <= irq.tNs).length);
        reclaimed += r.txCompleted;
        expect(r.txPendingAfter).toBe(10 - reclaimed);
        prevNs = irq.tNs;
      }
    }
    expect(reclaimed).toBe(10);
    expect(prevNs).toBeGreaterThanOrEqual(doneNs[9]!);
    expect(driver.txFree()).toBe(driver.size - 1);
    expect(pool.free).toBe(poolBefore); // every bounce page is back
  });

  it('RX frames DMA-d after the interrupt time are not handed over until an interrupt at or after their DMA', () => {
    const { nic, drivers } = host({ post: false, coalesceNs: 0 });
    const { driver } = drivers[0]!;
    nic.receive(frame(MAC_A, 64, 1), 1000);
    nic.receive(frame(MAC_A, 64, 2), 2000);
    // The driver posted its buffers at 30 us in modelled time: the frames are DMA'd then.
    nic.doorbellRx(0, driver.postRxBuffers(), 30_000);
    const early = driver.onInterrupt(20_000); // e.g. a TX interrupt of the same queue set
    expect(early.rx).toEqual([]);
    expect(early.rxPendingAfter).toBe(2);
    expect(driver.rxPosted()).toBe(driver.size - 1); // the buffers stay with the NIC
    expect(nic.takeInterrupts(1e9)).toEqual([{ tNs: 30_000, bitVector: 1 }]);
    const late = driver.onInterrupt(30_000);
    expect(late.rx.map((s) => s.bytes[14])).toEqual([1, 2]);
    expect(late.rx.every((s) => s.tNs >= 30_000)).toBe(true);
    expect(late.rxPendingAfter).toBe(0);
  });

  it('RX descriptors are taken in ring order: one DMA-d later in modelled time holds back those after it', () => {
    const { nic, drivers, mem } = host({ coalesceNs: 0 });
    const { driver, rings } = drivers[0]!;
    // Frames reach the NIC out of modelled order (wall time is not modelled time).
    nic.receive(frame(MAC_A, 64, 1), 80_000);
    nic.receive(frame(MAC_A, 64, 2), 10_000);
    const dmaNs = [0, 1].map((slot) => writebackAt(mem, rings.rxRingAddr, slot).doneNs);
    const irqs = nic.takeInterrupts(1e9);
    expect(irqs.map((i) => i.tNs)).toEqual([10_000, 80_000]);
    const first = driver.onInterrupt(irqs[0]!.tNs);
    expect(first.rx).toEqual([]);
    expect(first.rxPendingAfter).toBe(2);
    const second = driver.onInterrupt(irqs[1]!.tNs);
    expect(second.rx.map((s) => s.bytes[14])).toEqual([1, 2]);
    second.rx.forEach((s, i) => expect(s.tNs).toBeGreaterThanOrEqual(dmaNs[i]!));
  });

  it('a skb handed up late is stamped with the interrupt time, never before its DMA', () => {
    const { nic, drivers } = host();
    const { driver } = drivers[0]!;
    nic.receive(frame(MAC_A, 64), 5000);
    const r = driver.onInterrupt(70_000);
    expect(r.rx).toHaveLength(1);
    expect(r.rx[0]!.tNs).toBe(70_000);
  });

  it('a written-back descriptor with a corrupt time is counted as an error instead of stalling the ring', () => {
    const { nic, drivers, mem } = host();
    const { driver, rings } = drivers[0]!;
    nic.receive(frame(MAC_A, 64, 1), 100);
    nic.receive(frame(MAC_A, 64, 2), 200);
    // Corrupt slot 0's completion time in place.
    const nan = Buffer.alloc(8);
    nan.writeDoubleLE(Number.NaN, 0);
    mem.write(Math.floor(rings.rxRingAddr / 4096), rings.rxRingAddr % 4096, nan);
    const r = driver.onInterrupt(1000);
    expect(r.rxErrors).toBe(1);
    expect(r.rx.map((s) => s.bytes[14])).toEqual([2]);
    expect(driver.rxPosted()).toBe(driver.size - 1); // the bad slot's buffer was reposted
  });

  it('refuses an interrupt with a bad modelled time', () => {
    const { drivers } = host();
    expect(() => drivers[0]!.driver.onInterrupt(Number.NaN)).toThrow(NicError);
    expect(() => drivers[0]!.driver.onInterrupt(-1)).toThrow(/tNs/);
  });
});

describe('Interrupts cover every completion', () => {
  /** A deterministic pseudo-random sequence (an LCG), so the workload is the same each run. */
  function lcg(seed: number) {
    let x = seed >>> 0;
    return (n: number) => {
      x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
      return (x >>> 8) % n; // the low bits of an LCG cycle with a short period
    };
  }

  it('with TX outrunning the wire and RX mixed in, every interrupt covers a completion by its time, every completion gets one, and the driver never takes one early', () => {
    const { nic, drivers, mem } = host({ size: 16 });
    const { driver, rings, pool } = drivers[0]!;
    const rnd = lcg(7);
    /** Completions the NIC wrote back and no interrupt has covered yet (modelled times). */
    let uncovered: number[] = [];
    const txDone: number[] = []; // doneNs of every TX descriptor, in ring order
    const rxDma = new Map<number, number>(); // frame number -> DMA time from its writeback
    let txReclaimed = 0;
    let rxSeen = 0;
    let rxSent = 0;
    let heldBack = 0; // interrupts at which written-back TX descriptors were still on the wire

    const noteRx = (fromHead: number, toHead: number, seqs: number[]) => {
      for (let s = fromHead; s !== toHead; s = (s + 1) % driver.size) {
        const wb = writebackAt(mem, rings.rxRingAddr, s);
        rxDma.set(seqs.shift()!, wb.doneNs);
        uncovered.push(wb.doneNs);
      }
    };
    const waiting: number[] = []; // received frames not yet written (no buffer posted yet)
    const serve = (tNs: number) => {
      for (const irq of nic.takeInterrupts(tNs)) {
        expect(irq.tNs).toBeLessThanOrEqual(tNs);
        expect(uncovered.some((c) => c <= irq.tNs)).toBe(true); // due only for a completion by then
        uncovered = uncovered.filter((c) => c > irq.tNs);
        const r = driver.onInterrupt(irq.tNs);
        txReclaimed += r.txCompleted;
        if (r.txPendingAfter > 0) heldBack++;
        // Never more TX slots back than the wire had finished by the interrupt.
        expect(txReclaimed).toBeLessThanOrEqual(txDone.filter((t) => t <= irq.tNs).length);
        for (const skb of r.rx) {
          expect(skb.tNs).toBeGreaterThanOrEqual(rxDma.get(skb.bytes.readUInt16BE(14))!);
          pool.give(skb.page!.gfn);
          rxSeen++;
        }
        for (const g of r.freedGfns) pool.give(g);
        const head = nic.ringState(0).rxHead;
        const d = nic.doorbellRx(0, r.rxTail, irq.tNs);
        expect(d.drops).toEqual([]);
        noteRx(head, nic.ringState(0).rxHead, waiting);
      }
    };

    let t = 0;
    for (let step = 0; step < 60; step++) {
      t += rnd(20_000);
      if (rnd(2) === 0) {
        const n = 1 + rnd(6);
        const skbs = Array.from({ length: n }, () => ({ bytes: frame(MAC_B, 46 + rnd(1455)), tNs: t }));
        const posted = driver.transmit(skbs, t);
        if (posted.queued > 0) {
          const head = nic.ringState(0).txHead;
          nic.doorbellTx(0, posted.tail, t);
          for (let s = head; s !== nic.ringState(0).txHead; s = (s + 1) % driver.size) {
            const wb = writebackAt(mem, rings.txRingAddr, s);
            txDone.push(wb.doneNs);
            if ((wb.flags & DESC_EOP) !== 0) uncovered.push(wb.doneNs);
          }
        }
      } else {
        const payload = Buffer.alloc(50);
        payload.writeUInt16BE(rxSent, 0);
        const bytes = Buffer.concat([frame(MAC_A, 0).subarray(0, 14), payload]);
        waiting.push(rxSent++);
        const head = nic.ringState(0).rxHead;
        expect(nic.receive(bytes, t).drops).toEqual([]);
        noteRx(head, nic.ringState(0).rxHead, waiting);
      }
      serve(t);
    }
    // Let modelled time run on until the NIC owes nothing.
    for (let next = nic.nextInterruptNs(); next !== undefined; next = nic.nextInterruptNs()) serve(next);

    expect(uncovered).toEqual([]); // every completion was covered by an interrupt at or after it
    expect(txReclaimed).toBe(txDone.length);
    expect(driver.txFree()).toBe(driver.size - 1);
    expect(waiting).toEqual([]);
    expect(rxSeen).toBe(rxSent);
    expect(txDone.length).toBeGreaterThan(driver.size); // the workload did wrap the ring
    expect(heldBack).toBeGreaterThan(0); // and did outrun the wire
  });
});

describe('a NIC that died with frames on its TX ring', () => {
  it('lets its driver give them up: each frame reported lost, every page back, the ring empty', () => {
    const { drivers } = host();
    const { driver, gm, pool } = drivers[0]!;
    const freeBefore = pool.free;
    const pageGfn = pool.take()!;
    const zc = frame(MAC_B, 200, 2);
    gm.write(pageGfn, 0, zc);
    const copied = frame(MAC_B, 100, 1);
    // the NIC is never rung: nothing is completed
    driver.transmit([{ bytes: copied, tNs: 0 }, { bytes: zc, tNs: 0, page: { gfn: pageGfn, offset: 0 } }], 0);
    expect(driver.txFree()).toBeLessThan(15);
    const r = driver.abandonTx();
    expect(r.lost.map((s) => s.bytes)).toEqual([copied, zc]);
    expect(r.freedGfns).toEqual([pageGfn]);
    pool.give(pageGfn);
    expect(pool.free).toBe(freeBefore); // the bounce page of the copied frame came back too
    expect(driver.txFree()).toBe(15);
    expect(driver.abandonTx()).toEqual({ lost: [], freedGfns: [] });
  });

  it('what it wrote back before it died was sent, even with no interrupt to say so: only the rest is reported lost', () => {
    const { nic, drivers } = host();
    const { driver, pool } = drivers[0]!;
    const freeBefore = pool.free;
    const first = frame(MAC_B, 100, 1);
    const second = frame(MAC_B, 100, 2);
    // the NIC takes the first frame (it goes on the wire and its descriptor is written back); then it dies
    const out = nic.doorbellTx(0, driver.transmit([{ bytes: first, tNs: 0 }], 0).tail, 0);
    expect(out.wire.map((w) => w.bytes)).toEqual([first]);
    driver.transmit([{ bytes: second, tNs: 0 }], 0);
    const r = driver.abandonTx();
    expect(r.lost.map((s) => s.bytes)).toEqual([second]);
    expect(pool.free).toBe(freeBefore); // both bounce pages back
    expect(driver.txFree()).toBe(15);
  });
});

describe('a NIC replaced under its driver', () => {
  it('the driver starts over: TX ring written off, its RX buffers posted again from slot 0, and a fresh NIC configured with the same rings carries frames', () => {
    const { mem, drivers } = host();
    const { driver, pool } = drivers[0]!;
    const free = pool.free;
    driver.transmit([{ bytes: frame(MAC_B, 100, 1), tNs: 0 }], 0);
    const r = driver.reset();
    expect(r.lost).toHaveLength(1);
    expect(pool.free).toBe(free); // the bounce page came back, the RX buffers stayed the driver's
    expect(driver.tails()).toEqual({ tx: 0, rx: 0 });
    const fresh = new Nic({ name: 'nic0', lineRateBps: GBPS, queueSets: 1, dma: machineMemoryDma(mem) });
    fresh.configureQueueSet(0, { ...r.rings, macs: [MAC_A] });
    fresh.doorbellRx(0, driver.postRxBuffers(), 0);
    const sent = frame(MAC_B, 64, 7);
    const out = fresh.doorbellTx(0, driver.transmit([{ bytes: sent, tNs: 0 }], 0).tail, 1000);
    expect(out.wire.map((w) => w.bytes)).toEqual([sent]);
    const rx = fresh.receive(frame(MAC_A, 64, 9), 5000);
    expect(rx.delivered).toHaveLength(1);
  });
});
