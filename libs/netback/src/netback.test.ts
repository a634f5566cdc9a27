import { describe, it, expect } from 'vitest';
import type { SkBuff } from '@vnetlab/frames';
import { GNTST_okay, GNTST_permission_denied } from '@vnetlab/hypervisor';
import { PAGE_SIZE, PagePool } from '@vnetlab/memory';
import {
  NETIF_RSP_ERROR, NETIF_RSP_OKAY, NETTXF_more_data, REQ_PROD_OFF, txRequestCodec,
} from '@vnetlab/ring';
import { Netback, NetbackError, UNCHECKED_TX_RINGS } from './index.js';
import { frame, handRolledGuest, testbed, type Testbed } from './testbed.js';

/** Puts `bytes` into a fresh dom0 page at `offset`, as the bridge or NIC driver hands them over. */
function dom0Skb(tb: Testbed, bytes: Buffer, offset = 0): SkBuff {
  const gfn = tb.dom0Pool.take()!;
  tb.dom0.write(gfn, offset, bytes);
  return { bytes, tNs: 0, page: { gfn, offset } };
}


describe('netback guest→world (TX)', () => {
  it('a frame transmitted by netfront arrives byte-identical in a dom0 page', async () => {
    const tb = await testbed();
    const sent = [frame(60, 1), frame(1514, 2), frame(342, 3)];
    for (const f of sent) tb.netfront.transmit(f, 0);
    tb.calls.length = 0;
    const { skbs, notify } = await tb.netback.onTxEvent(0);
    expect(skbs).toHaveLength(3);
    skbs.forEach((skb, i) => {
      expect(skb.bytes.equals(sent[i]!)).toBe(true);
      // the bytes really sit in dom0's page (read back through dom0's p2m)
      expect(tb.dom0.read(skb.page!.gfn, skb.page!.offset, sent[i]!.length).equals(sent[i]!)).toBe(true);
      expect(tb.dom0.mfnOf(skb.page!.gfn)).toBeGreaterThanOrEqual(0);
    });
    expect(tb.calls).toEqual(['grantCopy(3)']); // one batched hypercall for the batch
    expect(notify).toBe(true);
    const ev = await tb.netfront.onEvent(0);
    expect(ev.frames).toHaveLength(0);
    expect(tb.netfront.stats.txPackets).toBe(3);
    expect(tb.netfront.txInFlight).toBe(0);
    expect(tb.netback.stats.txPackets).toBe(3);
    expect(tb.netback.stats.txBytes).toBe(60 + 1514 + 342);
  });

  it('charges netback_tx and ring ops to dom0 and the hypercall to xen', async () => {
    const tb = await testbed();
    tb.netfront.transmit(frame(100, 1), 0);
    tb.netfront.transmit(frame(100, 2), 0);
    const before = tb.ledger.snapshot();
    const r = await tb.netback.onTxEvent(1000);
    const rows = tb.ledger.snapshot();
    const ops = (domain: string, primitive: string) =>
      rows.filter((x) => x.domain === domain && x.primitive === primitive).reduce((s, x) => s + x.ops, 0) -
      before.filter((x) => x.domain === domain && x.primitive === primitive).reduce((s, x) => s + x.ops, 0);
    expect(ops('dom0', 'netback_tx')).toBe(2);
    expect(ops('dom0', 'ring_op')).toBe(4); // 2 requests taken + 2 responses put
    expect(ops('xen', 'hypercall')).toBe(1);
    expect(r.tNs).toBeGreaterThan(1000);
  });

  it('a TX request naming a gref the guest never granted is answered with an error and dom0 memory is unchanged', async () => {
    const tb = await testbed({ connect: false });
    const { tx } = await handRolledGuest(tb);
    const dom0Before = tb.dom0.hash();
    tx.putRequest({ gref: 777, offset: 0, flags: 0, id: 5, size: 100 });
    tx.pushRequests();
    const { skbs } = await tb.netback.onTxEvent(0);
    expect(skbs).toHaveLength(0);
    expect(tx.takeResponses()).toEqual([{ id: 5, status: NETIF_RSP_ERROR }]);
    expect(tb.dom0.hash()).toBe(dom0Before);
    expect(tb.netback.stats.txErrors).toEqual({ [`copy_failed_${GNTST_permission_denied}`]: 1 });
    expect(tb.hv.violations.some((v) => v.kind === 'grant_not_granted')).toBe(true);
    expect(tb.dom0Pool.free).toBe(tb.dom0Pool.size); // the buffer page went back
  });

  it('rejects malformed requests without a hypercall and answers each with an error', async () => {
    const tb = await testbed({ connect: false });
    const { tx } = await handRolledGuest(tb);
    const gfn = tb.guestPool.take()!;
    tb.grants.grantAccess(200, 0, gfn, true);
    tx.putRequest({ gref: 200, offset: 0, flags: 0, id: 1, size: 10 });              // runt
    tx.putRequest({ gref: 200, offset: 4000, flags: 0, id: 2, size: 200 });          // crosses the page
    tx.putRequest({ gref: 200, offset: 0, flags: 0x40, id: 3, size: 60 });           // unknown flag
    tx.putRequest({ gref: 200, offset: 0, flags: NETTXF_more_data, id: 4, size: 60 }); // needs feature-sg
    tx.putRequest({ gref: 200, offset: 0, flags: 0, id: 5, size: 60 });              // fine
    tx.pushRequests();
    tb.calls.length = 0;
    const { skbs } = await tb.netback.onTxEvent(0);
    expect(skbs).toHaveLength(1);
    expect(tb.calls).toEqual(['grantCopy(1)']);
    expect(tx.takeResponses()).toEqual([
      { id: 1, status: NETIF_RSP_ERROR }, { id: 2, status: NETIF_RSP_ERROR }, { id: 3, status: NETIF_RSP_ERROR },
      { id: 4, status: NETIF_RSP_ERROR }, { id: 5, status: NETIF_RSP_OKAY },
    ]);
    expect(tb.netback.stats.txErrors).toEqual({ runt_frame: 1, crosses_page: 1, bad_flags: 1, unsupported_flags: 1 });
  });

  it('a request rewritten after netback copied it out cannot change what was validated', async () => {
    const tb = await testbed({ connect: false });
    const { tx, txPage } = await handRolledGuest(tb);
    const gfn = tb.guestPool.take()!;
    tb.guest.write(gfn, 0, frame(60, 9));
    tb.grants.grantAccess(200, 0, gfn, true);
    tx.putRequest({ gref: 200, offset: 0, flags: 0, id: 1, size: 60 });
    tx.pushRequests();
    // the hypervisor answers only after the guest rewrote the slot with a huge size
    const realCopy = tb.netback['hv'].grantCopy;
    tb.netback['hv'].grantCopy = async (ops, t) => {
      const slot = Buffer.alloc(12);
      txRequestCodec.encode({ gref: 200, offset: 0, flags: 0, id: 1, size: 4096 }, slot, 0);
      txPage.write(64, slot);
      return realCopy(ops, t);
    };
    const { skbs } = await tb.netback.onTxEvent(0);
    expect(skbs[0]!.bytes.equals(frame(60, 9))).toBe(true);
  });

  it('a hostile req_prod disables the vif without consuming anything', async () => {
    const tb = await testbed({ connect: false });
    const { txPage } = await handRolledGuest(tb);
    const b = Buffer.alloc(4);
    b.writeUInt32LE(1000, 0);
    txPage.write(REQ_PROD_OFF, b);
    const r = await tb.netback.onTxEvent(0);
    expect(r.skbs).toHaveLength(0);
    expect(tb.netback.disabled).toBe('tx_ring_overflow');
    expect(tb.netback.stats.errors).toEqual({ tx_ring_overflow: 1 });
    expect(tb.dom0Pool.free).toBe(tb.dom0Pool.size);
  });

  it('without its ring check (protection off), a hostile req_prod is believed: dom0 serves stale slots round the ring, each a failed request costing it work, at most UNCHECKED_TX_RINGS rings an event', async () => {
    const tb = await testbed({ connect: false });
    const { txPage } = await handRolledGuest(tb);
    tb.netback.ringChecks = false;
    const forge = (reqProd: number) => {
      const b = Buffer.alloc(4);
      b.writeUInt32LE(reqProd >>> 0, 0);
      txPage.write(REQ_PROD_OFF, b);
    };
    const netbackTx = () => tb.ledger.snapshot().filter((x) => x.domain === 'dom0' && x.primitive === 'netback_tx').reduce((n, x) => n + x.ops, 0);
    const failed = () => Object.values(tb.netback.stats.txErrors).reduce((a, n) => a + n, 0);
    forge(1000);
    const r = await tb.netback.onTxEvent(0);
    expect(tb.netback.disabled).toBeUndefined();
    expect(r.skbs).toHaveLength(0); // nothing in the stale slots is a frame
    expect(failed()).toBe(1000);
    expect(netbackTx()).toBe(1000);
    // a millisecond of dom0's CPU for one notification
    expect(r.tNs).toBeGreaterThan(1e6);
    expect(tb.dom0Pool.free).toBe(tb.dom0Pool.size);
    // a claim of 2^31 requests: served a bounded share per event
    forge(1000 + 2 ** 31);
    const size = 256;
    await tb.netback.onTxEvent(r.tNs);
    expect(failed()).toBe(1000 + UNCHECKED_TX_RINGS * size);
    await tb.netback.onTxEvent(r.tNs);
    expect(failed()).toBe(1000 + 2 * UNCHECKED_TX_RINGS * size);
    // the check back on: the same index shuts the vif down
    tb.netback.ringChecks = true;
    await tb.netback.onTxEvent(r.tNs);
    expect(tb.netback.disabled).toBe('tx_ring_overflow');
  });

  it('leaves requests on the ring when dom0 runs out of buffer pages, and takes them later', async () => {
    const tb = await testbed({ dom0Pages: 4 }); // 3 pool pages
    for (let i = 0; i < 5; i++) tb.netfront.transmit(frame(80, i), 0);
    const first = await tb.netback.onTxEvent(0);
    expect(first.skbs).toHaveLength(3);
    expect(first.more).toBe(true);
    for (const s of first.skbs) tb.dom0Pool.give(s.page!.gfn); // the bridge is done with them
    const second = await tb.netback.onTxEvent(0);
    expect(second.skbs.map((s) => s.bytes[0])).toEqual([frame(80, 3)[0], frame(80, 4)[0]]);
    expect(second.more).toBe(false);
  });

  it('refuses to connect to a ring page the guest did not grant', async () => {
    const tb = await testbed({ connect: false });
    await expect(tb.netback.connect(300, 301, 0)).rejects.toThrow(NetbackError);
  });

  it('refuses to work before connect', async () => {
    const tb = await testbed({ connect: false });
    await expect(tb.netback.onTxEvent(0)).rejects.toThrow(/not_connected/);
  });
});

describe('netback world→guest (RX)', () => {
  it('copy mode: a delivered frame appears byte-identical in the guest', async () => {
    const tb = await testbed({ rxMode: 'copy' });
    const bytes = [frame(1514, 7), frame(64, 8)];
    const skbs = bytes.map((b, i) => dom0Skb(tb, b, i * 100));
    tb.calls.length = 0;
    const r = await tb.netback.deliver(skbs, 0);
    expect(r.delivered).toBe(2);
    expect(r.drops).toEqual({});
    expect(tb.calls).toEqual(['grantCopy(2)']);
    expect(r.freedGfns.sort()).toEqual(skbs.map((s) => s.page!.gfn).sort());
    expect(r.notify).toBe(true);
    const ev = await tb.netfront.onEvent(r.tNs);
    expect(ev.frames.map((f) => f.bytes.toString('hex'))).toEqual(bytes.map((b) => b.toString('hex')));
    expect(tb.netback.stats.rxPackets).toBe(2);
    expect(tb.netfront.stats.rxPackets).toBe(2);
  });

  it('flip mode: the frame arrives byte-identical and the page now belongs to the guest', async () => {
    const tb = await testbed({ rxMode: 'flip' });
    const bytes = frame(1000, 3);
    const skb = dom0Skb(tb, bytes, 128);
    const gfn = skb.page!.gfn;
    const flippedMfn = tb.dom0.mfnOf(gfn);
    const guestFrames = tb.hv.frameTable.ownedBy(tb.guestDomid).length;
    tb.calls.length = 0;
    const r = await tb.netback.deliver([skb], 0);
    expect(r.delivered).toBe(1);
    expect(tb.calls).toEqual(['grantTransfer', 'populatePhysmap']);
    expect(tb.hv.frameTable.owner(flippedMfn)).toBe(tb.guestDomid);
    // dom0 got a fresh frame at the same gfn, and may reuse it
    expect(tb.dom0.mfnOf(gfn)).not.toBe(flippedMfn);
    expect(tb.hv.frameTable.owner(tb.dom0.mfnOf(gfn))).toBe(0);
    expect(r.freedGfns).toEqual([gfn]);
    const ev = await tb.netfront.onEvent(r.tNs);
    expect(ev.frames).toHaveLength(1);
    expect(ev.frames[0]!.bytes.equals(bytes)).toBe(true);
    // the guest maps the flipped frame; it gave back the frame it had posted, so it does not grow
    expect(tb.guest.hash()).not.toBe('');
    expect(tb.hv.frameTable.ownedBy(tb.guestDomid).length).toBe(guestFrames);
    expect(tb.hv.domain(tb.guestDomid)!.p2m).toContain(flippedMfn);
  });

  it('flip mode keeps working frame after frame (buffers are reposted)', async () => {
    const tb = await testbed({ rxMode: 'flip', rxBuffers: 4 });
    const got: string[] = [];
    const want: string[] = [];
    for (let i = 0; i < 12; i++) {
      const b = frame(200 + i, i);
      want.push(b.toString('hex'));
      const r = await tb.netback.deliver([dom0Skb(tb, b)], 0);
      expect(r.delivered).toBe(1);
      r.freedGfns.forEach((g) => tb.dom0Pool.give(g));
      for (const f of (await tb.netfront.onEvent(0)).frames) got.push(f.bytes.toString('hex'));
    }
    expect(got).toEqual(want);
    expect(tb.netfront.rxPosted).toBe(4);
  });

  it('drops frames with reason rx_ring_full when the guest posted too few buffers', async () => {
    const tb = await testbed({ rxBuffers: 2 });
    const skbs = [1, 2, 3, 4].map((i) => dom0Skb(tb, frame(100, i)));
    const r = await tb.netback.deliver(skbs, 0);
    expect(r.delivered).toBe(2);
    expect(r.drops).toEqual({ rx_ring_full: 2 });
    expect(r.freedGfns.sort()).toEqual(skbs.map((s) => s.page!.gfn).sort());
    expect(tb.netback.stats.rxDrops).toEqual({ rx_ring_full: 2 });
    const ev = await tb.netfront.onEvent(0);
    expect(ev.frames.map((f) => f.bytes[0])).toEqual([frame(100, 1)[0], frame(100, 2)[0]]);
  });

  it('copies a frame that is not page-backed into a page of its own first', async () => {
    const tb = await testbed();
    const bytes = frame(300, 5);
    const free = tb.dom0Pool.free;
    const r = await tb.netback.deliver([{ bytes, tNs: 0 }], 0);
    expect(r.delivered).toBe(1);
    expect(r.freedGfns).toEqual([]); // its own page went straight back to its pool
    expect(tb.dom0Pool.free).toBe(free);
    expect((await tb.netfront.onEvent(0)).frames[0]!.bytes.equals(bytes)).toBe(true);
  });

  it('drops a frame too big for one page with a reason', async () => {
    const tb = await testbed();
    const r = await tb.netback.deliver([{ bytes: Buffer.alloc(PAGE_SIZE + 1), tNs: 0 }, { bytes: Buffer.alloc(5), tNs: 0 }], 0);
    expect(r.drops).toEqual({ bad_frame: 2 });
    expect(r.delivered).toBe(0);
  });
});

describe('netfront ↔ netback together', () => {
  it('pushing 10 frames while the backend has not re-armed notifies once', async () => {
    const tb = await testbed();
    const notifies = [];
    for (let i = 0; i < 10; i++) notifies.push(tb.netfront.transmit(frame(64, i), 0).notify);
    expect(notifies.filter(Boolean)).toHaveLength(1);
    expect(notifies[0]).toBe(true);
    const r = await tb.netback.onTxEvent(0); // final check re-arms req_event
    expect(r.skbs).toHaveLength(10);
    expect(tb.netfront.transmit(frame(64, 10), 0).notify).toBe(true);
  });

  it('ring-full back pressure queues frames instead of losing them', async () => {
    const tb = await testbed({ guestPages: 300, dom0Pages: 300, rxBuffers: 4 });
    const total = 256 + 20;
    const results = [];
    for (let i = 0; i < total; i++) results.push(tb.netfront.transmit(frame(64 + (i % 50), i), 0));
    expect(results.filter((r) => r.queued)).toHaveLength(20);
    expect(results.some((r) => r.drop)).toBe(false);
    expect(tb.netfront.txQueued).toBe(20);
    const arrived: Buffer[] = [];
    for (let round = 0; round < 5 && arrived.length < total; round++) {
      const { skbs } = await tb.netback.onTxEvent(0);
      for (const s of skbs) { arrived.push(s.bytes); tb.dom0Pool.give(s.page!.gfn); }
      await tb.netfront.onEvent(0); // completions free slots; queued frames go out
    }
    expect(arrived).toHaveLength(total);
    arrived.forEach((b, i) => expect(b.equals(frame(64 + (i % 50), i))).toBe(true));
    expect(tb.netfront.stats.drops).toEqual({});
  });

  it('a full software queue drops with reason tx_queue_full', async () => {
    const tb = await testbed({ guestPages: 300, rxBuffers: 4, txQueueLen: 3 });
    const results = [];
    for (let i = 0; i < 256 + 5; i++) results.push(tb.netfront.transmit(frame(64, i), 0));
    expect(results.filter((r) => r.queued)).toHaveLength(3);
    expect(results.filter((r) => r.drop === 'tx_queue_full')).toHaveLength(2);
    expect(tb.netfront.stats.drops).toEqual({ tx_queue_full: 2 });
  });

  it('the guest receives an error when its copy fails, and the frame is counted', async () => {
    const tb = await testbed();
    const failing = async () => [{ status: GNTST_permission_denied, cycles: 100 }];
    tb.netback['hv'].grantCopy = failing;
    const r = await tb.netback.deliver([dom0Skb(tb, frame(100, 1))], 0);
    expect(r.delivered).toBe(0);
    expect(r.drops).toEqual({ [`copy_failed_${GNTST_permission_denied}`]: 1 });
    const ev = await tb.netfront.onEvent(0);
    expect(ev.frames).toHaveLength(0);
    expect(tb.netfront.stats.errors).toEqual({ rx_error_from_backend: 1 });
    expect(GNTST_okay).toBe(0);
  });

  it('constructing a netback for a reserved domid is refused', () => {
    expect(() => new Netback({ frontDomid: 0x7ff0, mem: undefined as never, dom0: undefined as never, pages: new PagePool([]), hv: undefined as never, cpu: undefined as never, rxMode: 'copy' })).toThrow(NetbackError);
  });
});

describe('netback disconnect', () => {
  it("unmaps the frontend's ring pages, so that the guest's domain can be destroyed", async () => {
    const tb = await testbed();
    expect(() => tb.hv.destroyDomain(tb.guestDomid)).toThrow(/mapped/);
    await tb.netback.disconnect(0);
    expect(tb.calls).toContain('grantUnmapBatch(2)');
    expect(tb.netback.connected).toBe(false);
    tb.hv.destroyDomain(tb.guestDomid);
    expect(tb.hv.hasDomain(tb.guestDomid)).toBe(false);
    await expect(tb.netback.disconnect(0)).rejects.toThrow(NetbackError);
  });
});
