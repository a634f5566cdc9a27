import { describe, expect, it } from 'vitest';
import { CostTable, Cpu, Ledger } from '@vnetlab/cost';
import { TCP_ACK, buildTcpFrame, decodeEthernet, decodeIpv4, decodeTcp, type SkBuff } from '@vnetlab/frames';
import { BufferMachineMemory, GuestMemory, PagePool } from '@vnetlab/memory';
import { EMULATED, NO_OFFLOAD, VIF_RX, prepareXmit } from './xmit_offload.js';

const ends = { srcMac: '00:16:3e:00:00:01', dstMac: '02:00:00:00:00:02', srcIp: '10.0.0.1', dstIp: '10.0.0.2' };
const pattern = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 17 + 3) & 0xff));
const tcp = (n: number) => buildTcpFrame({ ...ends, segment: { srcPort: 1000, dstPort: 5001, seq: 1, ack: 1, flags: TCP_ACK, window: 65535, payload: pattern(n) } });

function ctx() {
  const mem = new BufferMachineMemory(64);
  const dom0 = new GuestMemory(mem, Array.from({ length: 64 }, (_, i) => i));
  const pages = new PagePool(Array.from({ length: 63 }, (_, i) => i + 1));
  const ledger = new Ledger(new CostTable());
  const c = { dom0, pages, cpu: new Cpu('cpu0', 2.8e9, ledger), domain: 'dom0' };
  /** The bytes laid over dom0 pages, as netback leaves a chain. */
  const inPages = (bytes: Buffer): SkBuff => {
    const frags = [];
    for (let at = 0; at < bytes.length; at += 4096) {
      const gfn = pages.take()!;
      const len = Math.min(4096, bytes.length - at);
      dom0.write(gfn, 0, bytes.subarray(at, at + len));
      frags.push({ gfn, offset: 0, len });
    }
    return { bytes: Buffer.from(bytes), tNs: 0, frags };
  };
  const charged = (p: string) => ledger.snapshot().filter((r) => r.primitive === p).reduce((n, r) => ({ ops: n.ops + r.ops, cycles: n.cycles + r.cycles }), { ops: 0, cycles: 0 });
  return { c, pages, dom0, inPages, charged };
}

describe('readying a frame for a device without an offload it needs', () => {
  it('software GSO: every segment in a dom0 page, decodable, the payload whole; gso_segment per frame and the checksum when the device cannot', () => {
    const x = ctx();
    const skb = { ...x.inPages(tcp(10_000)), gso: { size: 1460 }, csumPartial: true };
    const free = x.pages.free;
    const r = prepareXmit(skb, NO_OFFLOAD, x.c);
    expect(r.skbs).toHaveLength(7);
    expect(r.lost).toBe(0);
    const payload = Buffer.concat(r.skbs.map((s) => {
      expect(x.dom0.read(s.page!.gfn, 0, s.bytes.length).equals(s.bytes)).toBe(true);
      const ip = decodeIpv4(decodeEthernet(s.bytes).payload);
      return decodeTcp(ip.payload, ip.src, ip.dst).payload;
    }));
    expect(payload.equals(pattern(10_000))).toBe(true);
    expect(x.charged('gso_segment').ops).toBe(7);
    expect(x.charged('checksum_byte').cycles).toBeCloseTo(0.9 * (10_000 + 7 * 20), 6);
    expect(x.pages.free).toBe(free + skb.frags!.length - 7); // the chain's pages back, one per segment taken
    expect(r.skbs.every((s) => !s.csumPartial)).toBe(true);
  });

  it('software GSO for a device that inserts checksums leaves them to it', () => {
    const x = ctx();
    const r = prepareXmit({ ...x.inPages(tcp(5000)), gso: { size: 1460 }, csumPartial: true }, { csum: true, tso: false }, x.c);
    expect(r.skbs.every((s) => s.csumPartial)).toBe(true);
    expect(x.charged('checksum_byte').ops).toBe(0);
  });

  it('a device with TSO gets the large segment as it is, for free', () => {
    const x = ctx();
    const skb = { ...x.inPages(tcp(5000)), gso: { size: 1460 }, csumPartial: true };
    expect(prepareXmit(skb, { csum: true, tso: true }, x.c).skbs).toEqual([skb]);
    expect(x.charged('gso_segment').ops + x.charged('checksum_byte').ops).toBe(0);
  });

  it('completes a partial checksum in software for a device without checksum offload, but not towards a guest', () => {
    const x = ctx();
    const gfn = x.pages.take()!;
    const f = tcp(1000);
    x.dom0.write(gfn, 0, f);
    const toGuest = prepareXmit({ bytes: f, tNs: 0, page: { gfn, offset: 0 }, csumPartial: true }, VIF_RX, x.c);
    expect(toGuest.skbs[0]!.csumPartial).toBe(true);
    expect(x.charged('checksum_byte').ops).toBe(0);
    const toNic = prepareXmit({ bytes: f, tNs: 0, page: { gfn, offset: 0 }, csumPartial: true }, NO_OFFLOAD, x.c);
    expect(toNic.skbs[0]!.csumPartial).toBeUndefined();
    expect(x.charged('checksum_byte').cycles).toBeCloseTo(0.9 * 1020, 6);
  });

  it('linearizes a small multi-slot frame for a one-buffer device and drops what cannot fit a page', () => {
    const x = ctx();
    const small = x.inPages(tcp(500));
    small.frags = [{ ...small.frags![0]!, len: 300 }, { gfn: x.pages.take()!, offset: 0, len: small.bytes.length - 300 }];
    x.dom0.write(small.frags[1]!.gfn, 0, small.bytes.subarray(300));
    const r = prepareXmit(small, EMULATED, x.c);
    expect(r.skbs[0]!.frags).toBeUndefined();
    expect(x.dom0.read(r.skbs[0]!.page!.gfn, 0, small.bytes.length).equals(tcp(500))).toBe(true);
    expect(prepareXmit(x.inPages(tcp(6000)), VIF_RX, x.c).drop).toBe('frame_too_big');
  });

  it('drops a GSO frame whose headers cannot be cut', () => {
    const x = ctx();
    expect(prepareXmit({ ...x.inPages(Buffer.alloc(5000, 1)), gso: { size: 1460 } }, NO_OFFLOAD, x.c).drop).toBe('gso_malformed');
  });
});
