import { TCP_ACK, buildTcpFrame, decodeEthernet, decodeIpv4, decodeTcp, type SkBuff } from '@vnetlab/frames';
import { BufferMachineMemory, GuestMemory, PagePool } from '@vnetlab/memory';
import { describe, expect, it } from 'vitest';
import { DESC_TX_CSUM, DESC_TX_TSO, Nic, NicDriver, NicError, decodeDescriptor, encodeDescriptor, machineMemoryDma } from './index.js';

const ends = { srcMac: '00:16:3e:00:00:01', dstMac: '02:00:00:00:00:0b', srcIp: '10.0.0.1', dstIp: '10.0.0.2' };
const pattern = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 11 + 1) & 0xff));
const tcpFrame = (payload: number) =>
  buildTcpFrame({ ...ends, id: 100, segment: { srcPort: 40000, dstPort: 5001, seq: 7, ack: 1, flags: TCP_ACK, window: 65535, payload: pattern(payload) } });

function setup(offload: { csum?: boolean; tso?: boolean }) {
  const mem = new BufferMachineMemory(128);
  const p2m = Array.from({ length: 128 }, (_, i) => i);
  const gm = new GuestMemory(mem, p2m);
  const pool = new PagePool(p2m.slice(1));
  const nic = new Nic({ name: 'nic0', lineRateBps: 1e9, queueSets: 1, dma: machineMemoryDma(mem), offload });
  const driver = new NicDriver({ mem: gm, pool, offload });
  const rings = driver.setup();
  nic.configureQueueSet(0, { ...rings, macs: [], promiscuous: true });
  /** The frame's bytes laid out over dom0 pages as netback leaves a multi-slot packet. */
  const scattered = (bytes: Buffer): SkBuff => {
    const frags = [];
    for (let off = 0; off < bytes.length; off += 4096) {
      const gfn = pool.take()!;
      const chunk = bytes.subarray(off, Math.min(off + 4096, bytes.length));
      gm.write(gfn, 0, chunk);
      frags.push({ gfn, offset: 0, len: chunk.length });
    }
    return { bytes, tNs: 0, frags };
  };
  return { nic, driver, pool, gm, scattered };
}

const decode = (f: Buffer) => {
  const ip = decodeIpv4(decodeEthernet(f).payload);
  return decodeTcp(ip.payload, ip.src, ip.dst);
};

describe('NIC offloads', () => {
  it('TSO: a GSO skb in page fragments leaves as MSS frames with correct checksums, the payload whole, at line rate', () => {
    const { nic, driver, scattered } = setup({ csum: true, tso: true });
    const big = tcpFrame(20_000);
    const skb = { ...scattered(big), gso: { size: 1460 }, csumPartial: true };
    const t = driver.transmit([skb], 0);
    expect(t.copiedBytes).toBe(0); // zero copy: one descriptor per fragment
    expect(t.descriptors).toBe(skb.frags!.length);
    const r = nic.doorbellTx(0, t.tail, 0);
    expect(r.wire).toHaveLength(Math.ceil(20_000 / 1460));
    expect(Buffer.concat(r.wire.map((w) => decode(w.bytes).payload)).equals(pattern(20_000))).toBe(true);
    expect(r.wire.every((w) => w.bytes.length <= 1514)).toBe(true);
    // each frame takes its own time on the wire
    expect(r.wire.map((w) => w.tNs)).toEqual([...r.wire.map((w) => w.tNs)].sort((a, b) => a - b));
    expect(new Set(r.wire.map((w) => w.tNs)).size).toBe(r.wire.length);
    expect(nic.offloadWork).toMatchObject({ tsoSegments: 1, tsoFrames: r.wire.length });
    expect(nic.counters(0).txFrames).toBe(r.wire.length);
    // the pages come back once the last frame has left
    const irq = driver.onInterrupt(r.wire[r.wire.length - 1]!.tNs);
    expect(irq.freedGfns.sort()).toEqual(skb.frags!.map((f) => f.gfn).sort());
  });

  it('checksum insertion: the NIC computes the checksum of a checksum-partial frame', () => {
    const { nic, driver, pool, gm } = setup({ csum: true });
    const f = tcpFrame(1000);
    const blank = Buffer.from(f);
    blank.writeUInt16BE(0, 14 + 20 + 16); // left blank by the stack
    const gfn = pool.take()!;
    gm.write(gfn, 0, blank);
    const t = driver.transmit([{ bytes: blank, tNs: 0, page: { gfn, offset: 0 }, csumPartial: true }], 0);
    const r = nic.doorbellTx(0, t.tail, 0);
    expect(r.wire[0]!.bytes.equals(f)).toBe(true);
    expect(nic.offloadWork.checksums).toBe(1);
    expect(gm.read(gfn, 0, blank.length).equals(blank)).toBe(true); // host memory untouched
  });

  it('a driver without the NIC feature neither asks for it nor takes a GSO skb', () => {
    const { driver, pool, gm, scattered } = setup({});
    const gfn = pool.take()!;
    gm.write(gfn, 0, tcpFrame(100));
    driver.transmit([{ bytes: tcpFrame(100), tNs: 0, page: { gfn, offset: 0 }, csumPartial: true }], 0);
    const desc = decodeDescriptor(gm.read(driver['txRingGfn'], 0, 16));
    expect(desc.flags & (DESC_TX_CSUM | DESC_TX_TSO)).toBe(0);
    expect(() => driver.transmit([{ ...scattered(tcpFrame(5000)), gso: { size: 1460 } }], 0)).toThrow(NicError);
  });

  it('a large segment sent on a link that is down: every frame it stands for is a drop of its flow, with its bytes', () => {
    const mem = new BufferMachineMemory(16);
    const nic = new Nic({ name: 'nic0', lineRateBps: 1e9, queueSets: 1, dma: machineMemoryDma(mem), offload: { tso: true } });
    mem.write(1, 0, tcpFrame(3000));
    mem.write(0, 0, encodeDescriptor({ addr: 4096, len: 3054, flags: 1 | DESC_TX_TSO, status: 0, mss: 1460 }));
    nic.configureQueueSet(0, { txRingAddr: 0, rxRingAddr: 8192, size: 8, macs: [] });
    nic.setLink(false, 0);
    const out = nic.doorbellTx(0, 1, 0);
    expect(out.wire).toEqual([]);
    expect(out.drops.map((d) => [d.reason, d.bytes?.length])).toEqual([['link_down', 1514], ['link_down', 1514], ['link_down', 134]]);
    expect(nic.counters(0).drops.link_down).toBe(3);
  });

  it('a NIC refuses offloads it does not have, and TSO of what is not TCP, as drops with a reason', () => {
    const mem = new BufferMachineMemory(16);
    const nic = new Nic({ name: 'nic0', lineRateBps: 1e9, queueSets: 1, dma: machineMemoryDma(mem) });
    const ring = 0, buf = 4096;
    mem.write(1, 0, tcpFrame(3000));
    mem.write(0, 0, encodeDescriptor({ addr: buf, len: 3054, flags: 1 | DESC_TX_TSO, status: 0, mss: 1460 }));
    nic.configureQueueSet(0, { txRingAddr: ring, rxRingAddr: 8192, size: 8, macs: [] });
    expect(nic.doorbellTx(0, 1, 0).drops).toEqual([{ reason: 'offload_unsupported' }]);
    const tso = new Nic({ name: 'nic1', lineRateBps: 1e9, queueSets: 1, dma: machineMemoryDma(mem), offload: { tso: true } });
    mem.write(1, 0, Buffer.alloc(3054, 0xee)); // not an IPv4 frame at all
    tso.configureQueueSet(0, { txRingAddr: ring, rxRingAddr: 8192, size: 8, macs: [] });
    const drops = tso.doorbellTx(0, 1, 0).drops;
    expect(drops.map((d) => [d.reason, d.bytes?.length])).toEqual([['malformed', 3054]]);
  });
});
