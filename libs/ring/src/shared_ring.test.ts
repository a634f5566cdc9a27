import { describe, it, expect } from 'vitest';
import {
  BackRing, FrontRing, RingError, bufferRingPage, initSharedRing, ringSize,
  REQ_EVENT_OFF, REQ_PROD_OFF, RSP_EVENT_OFF, RSP_PROD_OFF, type EntryCodec, type RingPage,
} from './index.js';

// Small test entries: a 6-byte request and an 8-byte response share 8-byte slots.
interface Msg { v: number; tag: number }
const reqCodec: EntryCodec<Msg> = {
  size: 6,
  encode(m, out, off) { out.writeUInt32LE(m.v, off); out.writeUInt16LE(m.tag, off + 4); },
  decode(b, off) { return { v: b.readUInt32LE(off), tag: b.readUInt16LE(off + 4) }; },
};
const rspCodec: EntryCodec<Msg> = {
  size: 8,
  encode(m, out, off) { out.writeUInt32LE(m.v, off); out.writeUInt32LE(m.tag, off + 4); },
  decode(b, off) { return { v: b.readUInt32LE(off), tag: b.readUInt32LE(off + 4) }; },
};

/** Counts page accesses, as the lab counts syscalls on the shared file. */
function countingPage(): RingPage & { reads: number; writes: number; buf: Buffer } {
  const buf = Buffer.alloc(4096);
  const inner = bufferRingPage(buf);
  const p = {
    buf, reads: 0, writes: 0,
    read(o: number, l: number) { p.reads++; return inner.read(o, l); },
    write(o: number, d: Buffer) { p.writes++; inner.write(o, d); },
  };
  return p;
}

function pair(page: RingPage = bufferRingPage()) {
  initSharedRing(page);
  return { page, front: new FrontRing(page, reqCodec, rspCodec), back: new BackRing(page, reqCodec, rspCodec) };
}

describe('ring geometry', () => {
  it('sizes the ring to the largest power of two of slots after the 64-byte header', () => {
    expect(ringSize(12)).toBe(256); // netif TX: 336 fit → 256
    expect(ringSize(8)).toBe(256);  // 504 fit → 256
    expect(ringSize(64)).toBe(32);  // 63 fit → 32
    expect(ringSize(4032)).toBe(1);
    expect(() => ringSize(4033)).toThrow(RingError);
    expect(() => ringSize(0)).toThrow(RingError);
  });

  it('SHARED_RING_INIT zeroes the producers and sets both event indices to 1', () => {
    const buf = Buffer.alloc(4096, 0xaa);
    initSharedRing(bufferRingPage(buf));
    expect(buf.readUInt32LE(REQ_PROD_OFF)).toBe(0);
    expect(buf.readUInt32LE(REQ_EVENT_OFF)).toBe(1);
    expect(buf.readUInt32LE(RSP_PROD_OFF)).toBe(0);
    expect(buf.readUInt32LE(RSP_EVENT_OFF)).toBe(1);
    expect(buf.subarray(16, 64).every((b) => b === 0)).toBe(true);
  });

  it('refuses a page that is not 4096 bytes', () => {
    expect(() => bufferRingPage(Buffer.alloc(100))).toThrow(RingError);
    expect(() => bufferRingPage().read(4090, 10)).toThrow(/bad_range/);
  });
});

describe('front and back rings on one page', () => {
  it('exchange many requests and responses in order, across several laps of the ring', () => {
    const { front, back } = pair();
    expect(front.size).toBe(256); // slot 8 bytes
    const got: number[] = [];
    const answers: number[] = [];
    let next = 0;
    for (let round = 0; round < 20; round++) {
      const burst = 37 + (round * 13) % 90;
      for (let i = 0; i < burst && front.freeRequests() > 0; i++) front.putRequest({ v: next, tag: next & 0xffff }), next++;
      front.pushRequests();
      const { requests, overflow } = back.takeRequests();
      expect(overflow).toBe(false);
      for (const r of requests) { got.push(r.v); back.putResponse({ v: r.v * 2, tag: r.tag }); }
      back.pushResponses();
      for (const r of front.takeResponses()) answers.push(r.v);
    }
    expect(next).toBeGreaterThan(3 * 256);
    expect(got).toEqual([...Array(next).keys()]);
    expect(answers).toEqual([...Array(next).keys()].map((v) => v * 2));
    expect(front.freeRequests()).toBe(256);
  });

  it('writes and reads entries in bulk ranges, not entry by entry', () => {
    const page = countingPage();
    const { front, back } = pair(page);
    // move the indices so that the next batch wraps at the end of the ring
    for (let lap = 0; lap < 250; lap++) { front.putRequest({ v: lap, tag: 0 }); }
    front.pushRequests();
    back.takeRequests().requests.forEach((r) => back.putResponse(r));
    back.pushResponses();
    front.takeResponses();
    page.reads = 0; page.writes = 0;
    for (let i = 0; i < 100; i++) front.putRequest({ v: i, tag: 1 });
    expect(page.writes).toBe(0); // nothing is visible before the push
    page.reads = 0;
    front.pushRequests();
    expect(page.writes).toBe(3); // two entry ranges (the batch wraps) + req_prod
    expect(page.reads).toBe(1);  // req_event only
    page.reads = 0;
    const { requests } = back.takeRequests();
    expect(requests).toHaveLength(100);
    expect(page.reads).toBeLessThanOrEqual(3); // req_prod + two ranges
  });

  it('throws ring_full when every slot awaits a response', () => {
    const { front } = pair();
    for (let i = 0; i < front.size; i++) front.putRequest({ v: i, tag: 0 });
    expect(front.freeRequests()).toBe(0);
    expect(() => front.putRequest({ v: 999, tag: 0 })).toThrow(/ring_full/);
  });

  it('refuses an entry that does not fit its fields before it takes a slot', () => {
    const { front } = pair();
    expect(() => front.putRequest({ v: -1, tag: 0 })).toThrow();
    expect(front.freeRequests()).toBe(front.size);
  });

  it('refuses a response that answers no consumed request', () => {
    const { back } = pair();
    expect(() => back.putResponse({ v: 1, tag: 1 })).toThrow(RingError);
  });

  it('the back ring copies requests out: rewriting the slot afterwards changes nothing taken', () => {
    const buf = Buffer.alloc(4096);
    const { front, back } = pair(bufferRingPage(buf));
    front.putRequest({ v: 42, tag: 7 });
    front.pushRequests();
    const { requests } = back.takeRequests();
    buf.writeUInt32LE(0xdeadbeef, 64); // hostile frontend rewrites slot 0 after the copy
    expect(requests[0]).toEqual({ v: 42, tag: 7 });
  });

  it('takeRequests(max) takes at most max and leaves the rest', () => {
    const { front, back } = pair();
    for (let i = 0; i < 10; i++) front.putRequest({ v: i, tag: 0 });
    front.pushRequests();
    expect(back.takeRequests(4).requests.map((r) => r.v)).toEqual([0, 1, 2, 3]);
    expect(back.unconsumedRequests()).toBe(6);
    expect(back.takeRequests().requests.map((r) => r.v)).toEqual([4, 5, 6, 7, 8, 9]);
  });
});

describe('notification hold-off (req_event / rsp_event)', () => {
  it('the first push notifies; later pushes are silent until the backend re-arms', () => {
    const { front, back } = pair();
    front.putRequest({ v: 0, tag: 0 });
    expect(front.pushRequests()).toBe(true); // req_event = 1 at init
    const pushes: boolean[] = [];
    for (let i = 1; i <= 9; i++) { front.putRequest({ v: i, tag: 0 }); pushes.push(front.pushRequests()); }
    expect(pushes.every((n) => !n)).toBe(true); // backend is busy (has not re-armed)
    const first = back.takeRequests();
    expect(first.requests).toHaveLength(10);
    expect(back.finalCheckForRequests()).toBe(false); // re-arms: req_event = req_cons + 1
    front.putRequest({ v: 10, tag: 0 });
    expect(front.pushRequests()).toBe(true);
  });

  it('a push that races with re-arming is caught by the final check instead of a notification', () => {
    const { front, back } = pair();
    front.putRequest({ v: 0, tag: 0 });
    front.pushRequests();
    back.takeRequests();
    front.putRequest({ v: 1, tag: 0 }); // arrives before the backend re-arms: no notify
    expect(front.pushRequests()).toBe(false);
    expect(back.finalCheckForRequests()).toBe(true); // the re-check sees it
    expect(back.takeRequests().requests.map((r) => r.v)).toEqual([1]);
  });

  it('responses: the frontend is notified only after it re-arms rsp_event', () => {
    const { front, back } = pair();
    for (let i = 0; i < 5; i++) front.putRequest({ v: i, tag: 0 });
    front.pushRequests();
    const { requests } = back.takeRequests();
    back.putResponse(requests[0]!);
    expect(back.pushResponses()).toBe(true); // rsp_event = 1 at init
    back.putResponse(requests[1]!);
    expect(back.pushResponses()).toBe(false); // frontend not re-armed yet
    expect(front.takeResponses()).toHaveLength(2);
    expect(front.finalCheckForResponses()).toBe(false);
    back.putResponse(requests[2]!);
    back.putResponse(requests[3]!);
    expect(back.pushResponses()).toBe(true); // one notification for the batch
    back.putResponse(requests[4]!);
    expect(back.pushResponses()).toBe(false);
  });
});

describe('free-running u32 indices', () => {
  it('keeps working and notifying correctly across 2^32', () => {
    const buf = Buffer.alloc(4096);
    const page = bufferRingPage(buf);
    initSharedRing(page);
    const start = 2 ** 32 - 5;
    buf.writeUInt32LE(start, REQ_PROD_OFF);
    buf.writeUInt32LE(start, RSP_PROD_OFF);
    buf.writeUInt32LE(start + 1, REQ_EVENT_OFF);
    buf.writeUInt32LE(start + 1, RSP_EVENT_OFF);
    const front = new FrontRing(page, reqCodec, rspCodec, { attach: true });
    const back = new BackRing(page, reqCodec, rspCodec, { attach: true });
    expect(front.freeRequests()).toBe(256);
    for (let i = 0; i < 12; i++) front.putRequest({ v: i, tag: i });
    expect(front.pushRequests()).toBe(true); // req_event start+1 lies in (start, start+12]
    expect(buf.readUInt32LE(REQ_PROD_OFF)).toBe(7); // wrapped
    expect(front.freeRequests()).toBe(256 - 12);
    const { requests, overflow } = back.takeRequests();
    expect(overflow).toBe(false);
    expect(requests.map((r) => r.v)).toEqual([...Array(12).keys()]);
    expect(back.finalCheckForRequests()).toBe(false);
    expect(buf.readUInt32LE(REQ_EVENT_OFF)).toBe(8);
    for (const r of requests) back.putResponse(r);
    expect(back.pushResponses()).toBe(true);
    expect(front.takeResponses().map((r) => r.tag)).toEqual([...Array(12).keys()]);
    expect(front.freeRequests()).toBe(256);
    front.putRequest({ v: 99, tag: 0 });
    expect(front.pushRequests()).toBe(true);
  });

  it('an old req_event just behind 2^32 does not cause a spurious notification after the wrap', () => {
    const buf = Buffer.alloc(4096);
    const page = bufferRingPage(buf);
    initSharedRing(page);
    buf.writeUInt32LE(2 ** 32 - 2, REQ_PROD_OFF);
    buf.writeUInt32LE(2 ** 32 - 2, RSP_PROD_OFF);
    buf.writeUInt32LE(2 ** 32 - 1, REQ_EVENT_OFF); // backend asked for the next one
    const front = new FrontRing(page, reqCodec, rspCodec, { attach: true });
    front.putRequest({ v: 1, tag: 0 });
    front.putRequest({ v: 2, tag: 0 });
    expect(front.pushRequests()).toBe(true); // new = 0: (0 - (2^32-1)) = 1 < 2
    front.putRequest({ v: 3, tag: 0 });
    expect(front.pushRequests()).toBe(false);
  });
});

describe('hostile producer indices', () => {
  it('a req_prod claiming more than size outstanding is reported as overflow and nothing is consumed', () => {
    const buf = Buffer.alloc(4096);
    const { front, back } = pair(bufferRingPage(buf));
    front.putRequest({ v: 1, tag: 1 });
    front.pushRequests();
    buf.writeUInt32LE(1 + 257, REQ_PROD_OFF); // frontend lies
    const res = back.takeRequests();
    expect(res).toEqual({ requests: [], overflow: true });
    expect(back.reqConsumer).toBe(0);
    buf.writeUInt32LE(1, REQ_PROD_OFF); // honest again: the real request is still there
    expect(back.takeRequests().requests).toEqual([{ v: 1, tag: 1 }]);
  });

  it('a req_prod that moved backwards (huge u32 distance) is an overflow too', () => {
    const buf = Buffer.alloc(4096);
    const { back } = pair(bufferRingPage(buf));
    buf.writeUInt32LE(0xffffffff, REQ_PROD_OFF);
    expect(back.takeRequests().overflow).toBe(true);
  });

  it('the back ring never takes more requests than it has response slots for', () => {
    const { front, back } = pair();
    for (let i = 0; i < 256; i++) front.putRequest({ v: i, tag: 0 });
    front.pushRequests();
    expect(back.takeRequests().requests).toHaveLength(256);
    expect(back.unconsumedRequests()).toBe(0);
  });

  it('the front ring refuses an rsp_prod that answers more than was asked', () => {
    const buf = Buffer.alloc(4096);
    const { front } = pair(bufferRingPage(buf));
    front.putRequest({ v: 1, tag: 1 });
    front.pushRequests();
    buf.writeUInt32LE(50, RSP_PROD_OFF);
    expect(() => front.takeResponses()).toThrow(RingError);
  });
});
