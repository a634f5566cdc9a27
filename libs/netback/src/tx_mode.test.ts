import { describe, expect, it } from 'vitest';
import { skbFree, type SkBuff } from '@vnetlab/frames';
import { NETIF_RSP_ERROR, NETIF_RSP_OKAY } from '@vnetlab/ring';
import { TX_COPY_LEN, type TxMode } from './index.js';
import { frame, handRolledGuest, testbed, type Testbed } from './testbed.js';

const SIZES = [60, 1514, 342];

/** Ledger ops of (domain, primitive) since `before` (bytes for a per-byte primitive). */
function opsSince(tb: Testbed, before: ReturnType<Testbed['ledger']['snapshot']>, domain: string, primitive: string): number {
  const sum = (rows: typeof before) => rows.filter((x) => x.domain === domain && x.primitive === primitive).reduce((s, x) => s + (x.bytes ?? x.ops), 0);
  return sum(tb.ledger.snapshot()) - sum(before);
}

async function sendThree(mode: TxMode) {
  let released = 0;
  const tb = await testbed({ txMode: mode, onTxDone: () => released++ });
  const sent = SIZES.map((n, i) => frame(n, i + 1));
  for (const f of sent) tb.netfront.transmit(f, 0);
  const before = tb.ledger.snapshot();
  const r = await tb.netback.onTxEvent(0);
  return { tb, sent, r, before, released: () => released };
}

describe('netback TX modes', () => {
  for (const mode of ['copy', 'map', 'noremap'] as const) {
    it(`${mode}: the bytes netback hands on are the bytes the guest sent`, async () => {
      const { sent, r } = await sendThree(mode);
      expect(r.skbs.map((s) => s.bytes.toString('hex'))).toEqual(sent.map((f) => f.toString('hex')));
    });
  }

  it('map: every data slot is grant-mapped with a host mapping; the skb sits on the guest\'s frames and nothing is copied', async () => {
    const { tb, r, before } = await sendThree('map');
    expect(tb.calls).toContain('grantMapBatch(3)');
    expect(tb.calls.some((c) => c.startsWith('grantCopy'))).toBe(false);
    expect(opsSince(tb, before, 'xen', 'grant_map')).toBe(3);
    expect(opsSince(tb, before, 'xen', 'copy_byte')).toBe(0);
    for (const skb of r.skbs) {
      expect(skb.frags).toHaveLength(1);
      const f = skb.frags![0]!;
      expect(f.mfn).toBeGreaterThanOrEqual(0);
      expect(tb.hv.frameTable.owner(f.mfn!)).toBe(tb.guestDomid); // the guest's frame, not dom0's
      expect(tb.mem.read(f.mfn!, f.offset, f.len).equals(skb.bytes)).toBe(true);
    }
  });

  it('noremap: the header is grant-copied into a dom0 page, the rest mapped for the device only', async () => {
    const { tb, r, before } = await sendThree('noremap');
    // 60 bytes fit the header copy whole: only the two larger frames have a payload to map
    expect(tb.calls).toEqual(expect.arrayContaining(['grantCopy(3)', 'grantMapBatch(2, device)']));
    expect(opsSince(tb, before, 'xen', 'grant_map_device')).toBe(2);
    expect(opsSince(tb, before, 'xen', 'grant_map')).toBe(0);
    expect(opsSince(tb, before, 'xen', 'copy_byte')).toBe(60 + TX_COPY_LEN + TX_COPY_LEN);
    const [small, big] = r.skbs as [SkBuff, SkBuff];
    expect(small.frags).toEqual([{ gfn: expect.any(Number), offset: 0, len: 60 }]);
    expect(big.frags).toHaveLength(2);
    const [hdr, payload] = big.frags as [NonNullable<SkBuff['frags']>[0], NonNullable<SkBuff['frags']>[0]];
    expect(hdr.mfn).toBeUndefined();
    expect(hdr.len).toBe(TX_COPY_LEN);
    expect(tb.dom0.read(hdr.gfn, 0, hdr.len).equals(big.bytes.subarray(0, TX_COPY_LEN))).toBe(true);
    expect(payload.mfn).toBeGreaterThanOrEqual(0);
    expect(payload.len).toBe(1514 - TX_COPY_LEN);
  });

  for (const mode of ['map', 'noremap'] as const) {
    it(`${mode}: the guest is answered only when the skb is freed, and its frames stay pinned until then`, async () => {
      const { tb, r, released } = await sendThree(mode);
      expect(r.notify).toBe(false); // nothing answered yet
      await tb.netfront.onEvent(0);
      expect(tb.netfront.txInFlight).toBe(3);
      expect(tb.netback.txPending).toBe(3);
      const foreign = r.skbs.flatMap((s) => s.frags!.filter((f) => f.mfn !== undefined).map((f) => f.mfn!));
      expect(foreign.length).toBeGreaterThan(0);
      for (const mfn of foreign) expect(tb.hv.frameTable.ioRefs(mfn)).toBeGreaterThan(0);
      // the skb's own pages (noremap's header pages) are the caller's; no guest frame among them
      const ownPages = r.skbs.flatMap((s) => skbFree(s));
      expect(ownPages).toHaveLength(mode === 'noremap' ? 3 : 0);
      expect(released()).toBe(3);
      expect(tb.netback.txPending).toBe(0);
      const before = tb.ledger.snapshot();
      const rel = await tb.netback.releaseTx(10);
      expect(rel.notify).toBe(true);
      expect(opsSince(tb, before, 'xen', mode === 'map' ? 'grant_unmap' : 'grant_unmap_device')).toBe(foreign.length);
      expect(opsSince(tb, before, 'xen', mode === 'map' ? 'grant_unmap_device' : 'grant_unmap')).toBe(0);
      for (const mfn of foreign) expect(tb.hv.frameTable.ioRefs(mfn)).toBe(0);
      await tb.netfront.onEvent(20);
      expect(tb.netfront.txInFlight).toBe(0);
      expect(tb.netfront.stats.txPackets).toBe(3);
    });

    it(`${mode}: freeing an skb twice answers its packet once`, async () => {
      const { tb, r } = await sendThree(mode);
      skbFree(r.skbs[1]!);
      skbFree(r.skbs[1]!);
      r.skbs[1]!.zerocopy?.done();
      await tb.netback.releaseTx(0);
      await tb.netfront.onEvent(0);
      expect(tb.netfront.txInFlight).toBe(2);
    });

    it(`${mode}: a grant the guest never gave is refused by the hypervisor, counted, and answered at once`, async () => {
      const tb = await testbed({ txMode: mode, connect: false });
      const { tx } = await handRolledGuest(tb);
      // 777: never granted; 300: granted, but to another domain than dom0
      const data = tb.guestPool.take()!;
      tb.guest.write(data, 0, frame(600, 9));
      tb.grants.grantAccess(300, 5, data, true);
      tx.putRequest({ gref: 777, offset: 0, flags: 0, id: 1, size: 600 });
      tx.putRequest({ gref: 300, offset: 0, flags: 0, id: 2, size: 600 });
      tx.pushRequests();
      const before = tb.hv.violationCounts.get('grant_not_granted') ?? 0;
      const r = await tb.netback.onTxEvent(0);
      expect(r.skbs).toHaveLength(0);
      expect(tx.takeResponses()).toEqual([{ id: 1, status: NETIF_RSP_ERROR }, { id: 2, status: NETIF_RSP_ERROR }]);
      expect((tb.hv.violationCounts.get('grant_not_granted') ?? 0) - before).toBe(2);
      expect(tb.netback.txPending).toBe(0);
      expect(tb.hv.frameTable.ioRefs(tb.guest.mfnOf(data))).toBe(0);
      // a good one after them still goes
      tb.grants.grantAccess(301, 0, data, true);
      tx.putRequest({ gref: 301, offset: 0, flags: 0, id: 3, size: 600 });
      tx.pushRequests();
      const ok = await tb.netback.onTxEvent(1);
      expect(ok.skbs.map((s) => s.bytes.equals(frame(600, 9)))).toEqual([true]);
      skbFree(ok.skbs[0]!);
      await tb.netback.releaseTx(2);
      expect(tx.takeResponses()).toEqual([{ id: 3, status: NETIF_RSP_OKAY }]);
    });
  }

  it('refuses a tx mode it does not know', async () => {
    await expect(testbed({ txMode: 'remap' as TxMode })).rejects.toThrow(/txMode remap/);
  });
});
