import { describe, it, expect } from 'vitest';
import { CostTable, Cpu, Ledger } from '@vnetlab/cost';
import {
  DOMID_SELF, GNTST_okay, GNTST_permission_denied, GrantTableWriter, GTF_accept_transfer, GTF_permit_access, GTF_readonly, Hypervisor,
} from '@vnetlab/hypervisor';
import { BufferMachineMemory, GuestMemory, PagePool } from '@vnetlab/memory';
import {
  BackRing, NETIF_RSP_ERROR, NETIF_RSP_OKAY, rxRequestCodec, rxResponseCodec, txRequestCodec, txResponseCodec, type RingPage,
} from '@vnetlab/ring';
import { Netfront, NetfrontError, RX_COPY_THRESHOLD, type RxMode } from './index.js';

const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

function frame(len: number, seed: number): Buffer {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = (seed * 13 + i * 5) & 0xff;
  return b;
}

/** A guest with netfront, and a bare backend in dom0 made of two BackRings and direct hypercalls. */
function host(rxMode: RxMode = 'copy', opts: { rxBuffers?: number; guestPages?: number } = {}) {
  const guestPages = opts.guestPages ?? 48;
  const mem = new BufferMachineMemory(guestPages + 64 + 32);
  const costs = new CostTable();
  const ledger = new Ledger(costs);
  const hv = new Hypervisor({ mem, costs });
  const d0 = hv.createDomain('dom0', 64);
  const g = hv.createDomain('guest1', guestPages);
  const guest = new GuestMemory(mem, g.p2m);
  const dom0 = new GuestMemory(mem, d0.p2m);
  const grants = new GrantTableWriter(mem, g.grantFrames);
  const pool = new PagePool(range(1, guestPages));
  const nf = new Netfront({
    mem: guest, grants, backendDomid: 0, rxMode, pages: pool, cpu: new Cpu('cpu1', 2.8e9, ledger), domain: 'guest1',
    hv: { acceptTransfer: async (gref, gfn) => hv.acceptTransfer(g.domid, gref, gfn) }, rxBuffers: opts.rxBuffers,
  });
  const refs = nf.setup();
  const mapRing = (ref: number): RingPage => {
    const m = hv.grantMap(0, g.domid, ref, false);
    expect(m.status).toBe(GNTST_okay);
    return { read: (o, l) => mem.read(m.mfn, o, l), write: (o, d) => mem.write(m.mfn, o, d) };
  };
  const tx = new BackRing(mapRing(refs.txRingRef), txRequestCodec, txResponseCodec);
  const rx = new BackRing(mapRing(refs.rxRingRef), rxRequestCodec, rxResponseCodec);
  return { mem, hv, ledger, guest, dom0, grants, pool, nf, refs, tx, rx, guestDomid: g.domid };
}

function ledgerOps(ledger: Ledger, domain: string, primitive: string): number {
  return ledger.snapshot().filter((r) => r.domain === domain && r.primitive === primitive).reduce((s, r) => s + r.ops, 0);
}

describe('netfront setup', () => {
  it('grants both ring pages read-write to the backend and posts granted RX buffers (copy mode)', () => {
    const h = host('copy', { rxBuffers: 8 });
    for (const ref of [h.refs.txRingRef, h.refs.rxRingRef]) {
      const e = h.grants.entry(ref);
      expect(e.flags & (GTF_permit_access | GTF_accept_transfer | GTF_readonly)).toBe(GTF_permit_access); // read-write
      expect(e.domid).toBe(0);
    }
    const { requests } = h.rx.takeRequests();
    expect(requests).toHaveLength(8);
    expect(new Set(requests.map((r) => r.id)).size).toBe(8);
    for (const r of requests) expect(h.grants.entry(r.gref).flags).toBe(GTF_permit_access); // writable
    expect(h.nf.rxPosted).toBe(8);
  });

  it('flip mode posts buffers whose grants accept a transfer', () => {
    const h = host('flip', { rxBuffers: 4 });
    const { requests } = h.rx.takeRequests();
    expect(requests).toHaveLength(4);
    for (const r of requests) expect(h.grants.entry(r.gref).flags).toBe(GTF_accept_transfer);
  });

  it('by default keeps half of the pool for transmit', () => {
    const h = host('copy', { guestPages: 41 }); // 40 pool pages - 2 ring pages = 38 → 19 RX buffers
    expect(h.nf.rxPosted).toBe(19);
    expect(h.pool.free).toBe(19);
  });

  it('refuses flip mode without a hypervisor port, and use before setup', () => {
    const mem = new BufferMachineMemory(8);
    const opts = { mem: new GuestMemory(mem, [0]), grants: new GrantTableWriter(mem, [1]), backendDomid: 0, pages: new PagePool([0]), cpu: new Cpu('c', 1e9, new Ledger(new CostTable())), domain: 'g' };
    expect(() => new Netfront({ ...opts, rxMode: 'flip' })).toThrow(NetfrontError);
    const nf = new Netfront({ ...opts, rxMode: 'copy' });
    expect(() => nf.transmit(frame(60, 1), 0)).toThrow(/not_connected/);
  });
});

describe('netfront transmit', () => {
  it('writes the frame into a page granted read-only and puts a matching TX request', () => {
    const h = host();
    const f = frame(590, 4);
    const r = h.nf.transmit(f, 100);
    expect(r.notify).toBe(true);
    expect(r.tNs).toBeGreaterThan(100);
    const [req] = h.tx.takeRequests().requests;
    expect(req).toMatchObject({ offset: 0, flags: 0, size: 590 });
    expect(h.grants.entry(req!.gref).flags).toBe(GTF_permit_access | GTF_readonly);
    // the backend can copy the frame out through the grant ...
    const [ok] = h.hv.grantCopy(0, [{ source: { gref: req!.gref, domid: h.guestDomid, offset: 0 }, dest: { gfn: 5, domid: DOMID_SELF, offset: 0 }, len: 590 }]);
    expect(ok!.status).toBe(GNTST_okay);
    expect(h.dom0.read(5, 0, 590).equals(f)).toBe(true);
    // ... but not write into it
    const [no] = h.hv.grantCopy(0, [{ source: { gfn: 5, domid: DOMID_SELF, offset: 0 }, dest: { gref: req!.gref, domid: h.guestDomid, offset: 0 }, len: 10 }]);
    expect(no!.status).toBe(GNTST_permission_denied);
  });

  it('charges netfront_tx per frame and no copy_byte on transmit', () => {
    const h = host();
    for (let i = 0; i < 3; i++) h.nf.transmit(frame(1000, i), 0);
    expect(ledgerOps(h.ledger, 'guest1', 'netfront_tx')).toBe(3);
    expect(ledgerOps(h.ledger, 'guest1', 'ring_op')).toBe(3);
    expect(ledgerOps(h.ledger, 'guest1', 'copy_byte')).toBe(0);
  });

  it('drops frames shorter than an Ethernet header or longer than a page, with a reason', () => {
    const h = host();
    expect(h.nf.transmit(Buffer.alloc(10), 0).drop).toBe('frame_too_small');
    expect(h.nf.transmit(Buffer.alloc(5000), 0).drop).toBe('frame_too_big');
    expect(h.nf.stats.drops).toEqual({ frame_too_small: 1, frame_too_big: 1 });
    expect(h.tx.takeRequests().requests).toHaveLength(0);
  });

  it('a TX response ends the grant and returns the page; an error response is counted', async () => {
    const h = host();
    const free = h.pool.free;
    h.nf.transmit(frame(100, 1), 0);
    h.nf.transmit(frame(100, 2), 0);
    const reqs = h.tx.takeRequests().requests;
    h.tx.putResponse({ id: reqs[0]!.id, status: NETIF_RSP_OKAY });
    h.tx.putResponse({ id: reqs[1]!.id, status: NETIF_RSP_ERROR });
    h.tx.pushResponses();
    await h.nf.onEvent(0);
    expect(h.pool.free).toBe(free);
    for (const r of reqs) expect(h.grants.entry(r.gref).flags).toBe(0);
    expect(h.nf.stats.txPackets).toBe(1);
    expect(h.nf.stats.txErrors).toBe(1);
    expect(h.nf.stats.drops).toEqual({ tx_error_from_backend: 1 });
  });

  it('keeps a TX page out of use while the backend still maps it', async () => {
    const h = host();
    const free = h.pool.free;
    h.nf.transmit(frame(100, 1), 0);
    const [req] = h.tx.takeRequests().requests;
    const m = h.hv.grantMap(0, h.guestDomid, req!.gref, true);
    expect(m.status).toBe(GNTST_okay);
    h.tx.putResponse({ id: req!.id, status: NETIF_RSP_OKAY });
    h.tx.pushResponses();
    await h.nf.onEvent(0);
    expect(h.pool.free).toBe(free - 1); // not back yet
    h.hv.grantUnmap(0, m.handle);
    await h.nf.onEvent(0);
    expect(h.pool.free).toBe(free);
  });

  it('ignores a response with an id it never used, counting it', async () => {
    const h = host();
    h.nf.transmit(frame(100, 1), 0);
    const [req] = h.tx.takeRequests().requests;
    h.tx.putResponse({ id: (req!.id + 1) & 0xff, status: NETIF_RSP_OKAY });
    h.tx.pushResponses();
    await h.nf.onEvent(0);
    expect(h.nf.stats.errors).toEqual({ tx_rsp_bad_id: 1 });
    expect(h.nf.txInFlight).toBe(1);
  });
});

describe('netfront receive', () => {
  it('copy mode: returns the bytes the backend copied into the posted buffer and reposts it', async () => {
    const h = host('copy', { rxBuffers: 4 });
    const f = frame(700, 9);
    h.dom0.write(3, 0, f);
    const [req] = h.rx.takeRequests().requests; // all 4 posted buffers
    expect(h.rx.finalCheckForRequests()).toBe(false); // the backend re-arms req_event
    const [res] = h.hv.grantCopy(0, [{ source: { gfn: 3, domid: DOMID_SELF, offset: 0 }, dest: { gref: req!.gref, domid: h.guestDomid, offset: 40 }, len: 700 }]);
    expect(res!.status).toBe(GNTST_okay);
    h.rx.putResponse({ id: req!.id, offset: 40, flags: 0, status: 700 });
    expect(h.rx.pushResponses()).toBe(true);
    const ev = await h.nf.onEvent(1000);
    expect(ev.frames).toHaveLength(1);
    expect(ev.frames[0]!.bytes.equals(f)).toBe(true);
    expect(ev.frames[0]!.tNs).toBeGreaterThan(1000);
    expect(h.nf.rxPosted).toBe(4);
    expect(ev.notify).toBe(true); // the repost crosses the re-armed req_event
    expect(ledgerOps(h.ledger, 'guest1', 'netfront_rx')).toBe(1);
    const copied = h.ledger.snapshot().filter((r) => r.domain === 'guest1' && r.primitive === 'copy_byte').reduce((s, r) => s + r.cycles, 0);
    expect(copied).toBeCloseTo(new CostTable().cycles('copy_byte', RX_COPY_THRESHOLD));
  });

  it('counts an error response and a response that claims bytes beyond the page, delivering neither', async () => {
    const h = host('copy', { rxBuffers: 4 });
    const reqs = h.rx.takeRequests(2).requests;
    h.rx.putResponse({ id: reqs[0]!.id, offset: 0, flags: 0, status: NETIF_RSP_ERROR });
    h.rx.putResponse({ id: reqs[1]!.id, offset: 4000, flags: 0, status: 500 });
    h.rx.pushResponses();
    const ev = await h.nf.onEvent(0);
    expect(ev.frames).toHaveLength(0);
    expect(h.nf.stats.errors).toEqual({ rx_error_from_backend: 1, rx_bad_response: 1 });
    expect(h.nf.rxPosted).toBe(4);
    expect(ev.notify).toBe(false); // the backend never re-armed req_event: the reposts are silent
  });

  it('flip mode: maps the transferred frame at the posted gfn and reads the frame there', async () => {
    const h = host('flip', { rxBuffers: 2 });
    const f = frame(1200, 2);
    h.dom0.write(7, 64, f);
    const mfn = h.dom0.mfnOf(7);
    const [req] = h.rx.takeRequests(1).requests;
    expect(h.hv.grantTransfer(0, 7, h.guestDomid, req!.gref).status).toBe(GNTST_okay);
    h.rx.putResponse({ id: req!.id, offset: 64, flags: 0, status: 1200 });
    h.rx.pushResponses();
    const ev = await h.nf.onEvent(0);
    expect(ev.frames[0]!.bytes.equals(f)).toBe(true);
    expect(h.guest.hash()).toBeTypeOf('string');
    expect(h.hv.frameTable.owner(mfn)).toBe(h.guestDomid);
    expect(h.hv.domain(h.guestDomid)!.p2m).toContain(mfn);
    expect(ledgerOps(h.ledger, 'xen', 'hypercall')).toBe(1);
  });

  it('flip mode: a response without a completed transfer is an error, not a frame', async () => {
    const h = host('flip', { rxBuffers: 2 });
    const [req] = h.rx.takeRequests(1).requests;
    h.rx.putResponse({ id: req!.id, offset: 0, flags: 0, status: 100 });
    h.rx.pushResponses();
    const ev = await h.nf.onEvent(0);
    expect(ev.frames).toHaveLength(0);
    expect(h.nf.stats.errors).toEqual({ rx_no_transfer: 1 });
  });
});

describe('netfront whose backend died', () => {
  it('writes off the TX requests never answered, returns their frames in order, and does no more work', async () => {
    const h = host('copy', { rxBuffers: 4 });
    const a = frame(100, 1);
    const b = frame(200, 2);
    const c = frame(300, 3);
    for (const f of [a, b, c]) h.nf.transmit(f, 0);
    // the backend answers the first request only, then dies
    const { requests } = h.tx.takeRequests();
    expect(requests).toHaveLength(3);
    h.tx.putResponse({ id: requests[0]!.id, status: NETIF_RSP_OKAY });
    h.tx.pushResponses();
    await h.nf.onEvent(1);
    expect(h.nf.stats.txPackets).toBe(1);

    const lost = h.nf.abandon();
    expect(lost).toEqual([{ head: b, frames: 1 }, { head: c, frames: 1 }]);
    expect(h.nf.stats.drops['backend_gone']).toBe(2);
    expect(h.nf.txInFlight).toBe(0);
    expect(h.nf.abandoned).toBe(true);
    // an answer arriving now (or a frame handed over) changes nothing
    h.tx.putResponse({ id: requests[1]!.id, status: NETIF_RSP_OKAY });
    h.tx.pushResponses();
    expect((await h.nf.onEvent(2)).frames).toEqual([]);
    expect(h.nf.stats.txPackets).toBe(1);
    expect(h.nf.transmit(frame(64, 4), 3).drop).toBe('backend_gone');
    expect(h.nf.stats.drops['backend_gone']).toBe(3);
  });

  it('counts a large TCP segment it loses as the MSS-sized frames it stood for', () => {
    const h = host('copy', { rxBuffers: 4 });
    const seg = Buffer.alloc(14 + 20 + 20 + 5000, 1);
    seg.writeUInt16BE(0x0800, 12);
    seg[14] = 0x45; // IPv4, 20-byte header
    seg[14 + 20 + 12] = 0x50; // TCP, 20-byte header
    h.nf.transmit(seg, 0, { gsoSize: 1448 });
    const [lost] = h.nf.abandon();
    expect(lost!.frames).toBe(Math.ceil(5000 / 1448));
    expect(lost!.head.subarray(0, 54)).toEqual(seg.subarray(0, 54));
  });
});
