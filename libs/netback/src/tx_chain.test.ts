import { describe, expect, it } from 'vitest';
import { buildTcpFrame, buildIcmpEchoFrame, segmentTcp, decodeEthernet, decodeIpv4, decodeTcp, TCP_ACK } from '@vnetlab/frames';
import { PAGE_SIZE } from '@vnetlab/memory';
import {
  NETIF_RSP_ERROR, NETIF_RSP_NULL, NETIF_RSP_OKAY, NETTXF_csum_blank, NETTXF_extra_info, NETTXF_more_data,
  XEN_NETIF_EXTRA_TYPE_GSO, XEN_NETIF_GSO_TYPE_TCPV4, XEN_NETIF_GSO_TYPE_TCPV6, extraInfoAsTxRequest, type NetifTxRequest,
} from '@vnetlab/ring';
import { handRolledGuest, testbed, type Testbed } from './testbed.js';

const FEATURES = { sg: true, gsoTcpv4: true };
const ends = { srcMac: '00:16:3e:00:00:01', dstMac: '00:16:3e:00:00:02', srcIp: '10.0.0.1', dstIp: '10.0.0.2' };
const pattern = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 13 + 5) & 0xff));

/** A TCP segment of `payload` bytes, as a TSO-capable stack hands it down. */
function tcpFrame(payload: number): Buffer {
  return buildTcpFrame({ ...ends, id: 7, segment: { srcPort: 40000, dstPort: 5001, seq: 1000, ack: 1, flags: TCP_ACK, window: 65535, payload: pattern(payload) } });
}

const gsoExtra = (size: number, type = XEN_NETIF_GSO_TYPE_TCPV4, flags = 0) =>
  extraInfoAsTxRequest({ type: XEN_NETIF_EXTRA_TYPE_GSO, flags, gso: { size, type, features: 0 } });

/** A guest that writes its TX ring by hand, to build chains netfront never would. */
async function handRolled(tb: Testbed) {
  const { tx } = await handRolledGuest(tb);
  let gref = 200;
  /** A granted guest page holding `bytes`; returns its gref. */
  const grant = (bytes: Buffer) => {
    const gfn = tb.guestPool.take()!;
    tb.guest.write(gfn, 0, bytes);
    tb.grants.grantAccess(gref, 0, gfn, true);
    return gref++;
  };
  return { tx, grant };
}

function ops(tb: Testbed, before: ReturnType<Testbed['ledger']['snapshot']>, domain: string, primitive: string): number {
  const sum = (rows: typeof before) => rows.filter((x) => x.domain === domain && x.primitive === primitive).reduce((s, x) => s + x.ops, 0);
  return sum(tb.ledger.snapshot()) - sum(before);
}

describe('multi-slot TX requests (feature-sg, feature-gso-tcpv4)', () => {
  it('netfront puts a GSO packet as a chain with its GSO extra; netback copies it byte-identical into dom0 pages', async () => {
    const tb = await testbed({ features: FEATURES });
    const big = tcpFrame(44 * 1460 - 54 - 500);
    const before = tb.ledger.snapshot();
    const r = tb.netfront.transmit(big, 0, { csumBlank: true, gsoSize: 1460 });
    expect(r.drop).toBeUndefined();
    const slots = Math.ceil(big.length / PAGE_SIZE);
    expect(tb.netfront.txInFlight).toBe(slots);
    tb.calls.length = 0;
    const { skbs } = await tb.netback.onTxEvent(0);
    expect(tb.calls).toEqual([`grantCopy(${slots})`]); // one op per data slot, one hypercall
    expect(skbs).toHaveLength(1);
    const skb = skbs[0]!;
    expect(skb.bytes.equals(big)).toBe(true);
    expect(skb.gso).toEqual({ size: 1460 });
    expect(skb.csumPartial).toBe(true);
    expect(skb.frags).toHaveLength(slots);
    // the bytes really sit in the dom0 pages the frags name
    expect(Buffer.concat(skb.frags!.map((f) => tb.dom0.read(f.gfn, f.offset, f.len))).equals(big)).toBe(true);
    // per-packet work once, ring work per slot (the extra-info slot included)
    expect(ops(tb, before, 'guest1', 'netfront_tx')).toBe(1);
    expect(ops(tb, before, 'dom0', 'netback_tx')).toBe(1);
    expect(ops(tb, before, 'guest1', 'ring_op')).toBe(slots + 1);
    expect(ops(tb, before, 'dom0', 'ring_op')).toBe(2 * (slots + 1));
    expect(tb.netback.stats).toMatchObject({ txPackets: 1, txBytes: big.length, offload: { csumBlank: 1, gso: 1, gsoChecksumFixup: 0 } });
    // netfront takes every answer (the NULL one of the extra slot too) and frees every slot
    await tb.netfront.onEvent(0);
    expect(tb.netfront.txInFlight).toBe(0);
    expect(tb.netfront.stats.txPackets).toBe(1);
    // the segments of what netback holds decode and reassemble
    const frames = segmentTcp(skb.bytes, skb.gso!.size);
    const payload = Buffer.concat(frames.map((f) => { const ip = decodeIpv4(decodeEthernet(f).payload); return decodeTcp(ip.payload, ip.src, ip.dst).payload; }));
    expect(payload.equals(pattern(44 * 1460 - 54 - 500))).toBe(true);
  });

  it('a GSO packet without csum_blank is taken as checksum-partial anyway (the gso checksum fixup)', async () => {
    const tb = await testbed({ features: FEATURES });
    tb.netfront.transmit(tcpFrame(5000), 0, { gsoSize: 1460 });
    const { skbs } = await tb.netback.onTxEvent(0);
    expect(skbs[0]!.csumPartial).toBe(true);
    expect(tb.netback.stats.offload).toEqual({ csumBlank: 0, gso: 1, gsoChecksumFixup: 1 });
  });

  it('a single-slot csum_blank frame comes out checksum-partial, page-backed', async () => {
    const tb = await testbed({ features: FEATURES });
    tb.netfront.transmit(tcpFrame(1000), 0, { csumBlank: true });
    const { skbs } = await tb.netback.onTxEvent(0);
    expect(skbs[0]).toMatchObject({ csumPartial: true, page: { offset: 0 } });
    expect(skbs[0]!.gso).toBeUndefined();
  });

  it('refuses a checksum or GSO offload on a frame that is not TCP/UDP over IPv4', async () => {
    const tb = await testbed({ features: FEATURES });
    const icmp = buildIcmpEchoFrame({ ...ends, id: 1, seq: 1, data: pattern(100) });
    tb.netfront.transmit(icmp, 0, { csumBlank: true });
    const { skbs } = await tb.netback.onTxEvent(0);
    expect(skbs).toHaveLength(0);
    expect(tb.netback.stats.txErrors).toEqual({ bad_offload_headers: 1 });
    expect(tb.dom0Pool.free).toBe(tb.dom0Pool.size);
  });

  it('refuses every malformed chain whole, answers each of its slots, counts the reason and keeps the packets around it', async () => {
    const tb = await testbed({ connect: false, features: FEATURES });
    const { tx, grant } = await handRolled(tb);
    const put = (reqs: NetifTxRequest[]) => reqs.forEach((r) => tx.putRequest(r));
    const g = grant(tcpFrame(3000).subarray(0, PAGE_SIZE));
    const ok = tcpFrame(500);
    // 1: a good single frame
    put([{ gref: grant(ok), offset: 0, flags: 0, id: 1, size: ok.length }]);
    // 2: a further slot larger than what the head leaves (size 100 total, slot of 200)
    put([{ gref: g, offset: 0, flags: NETTXF_more_data, id: 2, size: 100 }, { gref: g, offset: 0, flags: 0, id: 3, size: 200 }]);
    // 3: GSO with MSS 0
    put([{ gref: g, offset: 0, flags: NETTXF_extra_info, id: 4, size: 1000 }, gsoExtra(0)]);
    // 4: GSO of TCPv6 (not offered)
    put([{ gref: g, offset: 0, flags: NETTXF_extra_info, id: 5, size: 1000 }, gsoExtra(1460, XEN_NETIF_GSO_TYPE_TCPV6)]);
    // 5: an extra-info slot of no known type
    put([{ gref: g, offset: 0, flags: NETTXF_extra_info, id: 6, size: 1000 }, extraInfoAsTxRequest({ type: 0, flags: 0, gso: { size: 0, type: 0, features: 0 } })]);
    // 6: a further slot crossing its page
    put([{ gref: g, offset: 0, flags: NETTXF_more_data, id: 7, size: 2000 }, { gref: g, offset: 4000, flags: 0, id: 8, size: 1000 }]);
    // 7: 19 data slots
    put(Array.from({ length: 19 }, (_, k) => ({ gref: g, offset: 0, flags: k < 18 ? NETTXF_more_data : 0, id: 10 + k, size: k === 0 ? 19 * 100 : 100 })));
    // 8: another good frame
    put([{ gref: grant(ok), offset: 0, flags: 0, id: 40, size: ok.length }]);
    // 9: a chain the producer index ends in the middle of
    put([{ gref: g, offset: 0, flags: NETTXF_more_data, id: 41, size: 3000 }, { gref: g, offset: 0, flags: NETTXF_more_data, id: 42, size: 1000 }]);
    tx.pushRequests();
    tb.calls.length = 0;
    const { skbs } = await tb.netback.onTxEvent(0);
    expect(skbs.map((s) => s.bytes.equals(ok))).toEqual([true, true]);
    expect(tb.calls).toEqual(['grantCopy(2)']); // nothing refused was copied
    expect(tb.netback.stats.txErrors).toEqual({
      slot_too_big: 1, gso_size_zero: 1, gso_bad_type: 1, bad_extra_type: 1, crosses_page: 1, too_many_slots: 1, incomplete_chain: 1,
    });
    const rsps = tx.takeResponses();
    const byId = new Map(rsps.filter((r) => r.status !== NETIF_RSP_NULL).map((r) => [r.id, r.status]));
    expect(byId.get(1)).toBe(NETIF_RSP_OKAY);
    expect(byId.get(40)).toBe(NETIF_RSP_OKAY);
    for (const id of [2, 3, 4, 5, 6, 7, 8, 10, 28, 41, 42]) expect(byId.get(id)).toBe(NETIF_RSP_ERROR);
    expect(rsps.filter((r) => r.status === NETIF_RSP_NULL)).toHaveLength(3); // one per extra-info slot
    expect(rsps).toHaveLength(2 + 2 + 2 + 2 + 2 + 2 + 19 + 2); // every slot answered
    expect(tb.dom0Pool.free).toBe(tb.dom0Pool.size - 2);
    expect(tb.netback.disabled).toBeUndefined();
  });

  it('refuses a GSO packet whose MSS would cut it into a flood of frames', async () => {
    const tb = await testbed({ features: FEATURES });
    tb.netfront.transmit(tcpFrame(20_000), 0, { csumBlank: true, gsoSize: 8 });
    const { skbs } = await tb.netback.onTxEvent(0);
    expect(skbs).toHaveLength(0);
    expect(tb.netback.stats.txErrors).toEqual({ gso_too_many_segments: 1 });
    expect(tb.dom0Pool.free).toBe(tb.dom0Pool.size);
  });

  it('without feature-sg / feature-gso-tcpv4 a chain head is refused as unsupported', async () => {
    const tb = await testbed({ connect: false });
    const { tx, grant } = await handRolled(tb);
    const ok = tcpFrame(100);
    const g = grant(ok);
    tx.putRequest({ gref: g, offset: 0, flags: NETTXF_extra_info | NETTXF_csum_blank, id: 1, size: ok.length });
    tx.putRequest({ gref: g, offset: 0, flags: 0, id: 2, size: ok.length });
    tx.pushRequests();
    const { skbs } = await tb.netback.onTxEvent(0);
    expect(skbs).toHaveLength(1);
    expect(tb.netback.stats.txErrors).toEqual({ unsupported_flags: 1 });
  });

  it('a chain that needs more dom0 pages than are free waits for them, already copied out', async () => {
    const tb = await testbed({ features: FEATURES, dom0Pages: 6 }); // 5 pool pages
    const big = tcpFrame(5 * PAGE_SIZE - 1000); // 5 slots: one more than is left after the first frame
    tb.netfront.transmit(tcpFrame(100), 0);
    tb.netfront.transmit(big, 0, { gsoSize: 1460 });
    const first = await tb.netback.onTxEvent(0);
    expect(first.skbs).toHaveLength(1);
    expect(first.more).toBe(true);
    tb.dom0Pool.give(first.skbs[0]!.page!.gfn);
    const second = await tb.netback.onTxEvent(0);
    expect(second.skbs.map((s) => s.bytes.equals(big))).toEqual([true]);
  });
});
