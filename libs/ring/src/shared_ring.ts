import { RING_PAGE_SIZE, RingError, type RingPage } from './ring_page.js';

/** Encodes one ring entry (a request or a response) in its C layout, little endian. */
export interface EntryCodec<T> {
  size: number;
  encode(v: T, out: Buffer, off: number): void;
  decode(buf: Buffer, off: number): T;
}

// struct <name>_sring from io/ring.h: four u32 indices, then a 48-byte private/pad area.
export const REQ_PROD_OFF = 0;
export const REQ_EVENT_OFF = 4;
export const RSP_PROD_OFF = 8;
export const RSP_EVENT_OFF = 12;
export const RING_HEADER_SIZE = 64;

const u32 = (n: number): number => n >>> 0;

/** __RING_SIZE: the largest power of two number of slots that fits after the header. */
export function ringSize(slotSize: number): number {
  if (!Number.isInteger(slotSize) || slotSize <= 0) {
    throw new RingError('bad_codec', `slot size must be a positive integer, got ${slotSize}`);
  }
  const fit = Math.floor((RING_PAGE_SIZE - RING_HEADER_SIZE) / slotSize);
  if (fit < 1) throw new RingError('bad_codec', `slot size ${slotSize} does not fit a page`);
  let size = 1;
  while (size * 2 <= fit) size *= 2;
  return size;
}

/** SHARED_RING_INIT: producers at 0, both event indices at 1 (notify on the first entry). */
export function initSharedRing(page: RingPage): void {
  const hdr = Buffer.alloc(RING_HEADER_SIZE);
  hdr.writeUInt32LE(0, REQ_PROD_OFF);
  hdr.writeUInt32LE(1, REQ_EVENT_OFF);
  hdr.writeUInt32LE(0, RSP_PROD_OFF);
  hdr.writeUInt32LE(1, RSP_EVENT_OFF);
  page.write(0, hdr);
}

export interface RingOptions {
  /** FRONT_RING_ATTACH / BACK_RING_ATTACH: take the private indices from the shared header
   * (reconnecting to a ring already in use) instead of starting at 0 (*_RING_INIT). */
  attach?: boolean;
}

/** The slot geometry and bulk entry access shared by both ends. */
class RingSlots {
  readonly slotSize: number;
  readonly size: number;
  constructor(readonly page: RingPage, reqSize: number, rspSize: number) {
    if (!Number.isInteger(reqSize) || !Number.isInteger(rspSize) || reqSize <= 0 || rspSize <= 0) {
      throw new RingError('bad_codec', `entry sizes must be positive integers (req ${reqSize}, rsp ${rspSize})`);
    }
    // the ring is an array of union { req; rsp }
    this.slotSize = Math.max(reqSize, rspSize);
    this.size = ringSize(this.slotSize);
  }

  readU32(off: number): number {
    return this.page.read(off, 4).readUInt32LE(0);
  }

  writeU32(off: number, v: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(u32(v), 0);
    this.page.write(off, b);
  }

  /** Reads `count` slots starting at free-running index `start`: at most two ranges. */
  readSlots(start: number, count: number): Buffer {
    const out = Buffer.alloc(count * this.slotSize);
    let done = 0;
    while (done < count) {
      const slot = u32(start + done) & (this.size - 1);
      const n = Math.min(count - done, this.size - slot);
      this.page.read(RING_HEADER_SIZE + slot * this.slotSize, n * this.slotSize).copy(out, done * this.slotSize);
      done += n;
    }
    return out;
  }

  /** Writes consecutive slots (data = count * slotSize bytes) from index `start`. */
  writeSlots(start: number, data: Buffer): void {
    const count = data.length / this.slotSize;
    let done = 0;
    while (done < count) {
      const slot = u32(start + done) & (this.size - 1);
      const n = Math.min(count - done, this.size - slot);
      this.page.write(RING_HEADER_SIZE + slot * this.slotSize, data.subarray(done * this.slotSize, (done + n) * this.slotSize));
      done += n;
    }
  }

  encodeAll<T>(codec: EntryCodec<T>, entries: T[]): Buffer {
    const out = Buffer.alloc(entries.length * this.slotSize);
    entries.forEach((e, i) => codec.encode(e, out, i * this.slotSize));
    return out;
  }
}

/**
 * The frontend's end (FRONT_RING_INIT): produces requests, consumes responses.
 * Requests put with putRequest are written to the page in bulk when pushed; the other end
 * cannot see them before req_prod moves anyway.
 */
export class FrontRing<Req, Rsp> {
  readonly size: number;
  private readonly slots: RingSlots;
  private reqProdPvt: number;
  private rspCons: number;
  private pending: Req[] = [];
  private pendingStart: number;
  /** The req_prod we last published: we are its only writer, so no need to read it back. */
  private published: number;

  constructor(page: RingPage, private readonly req: EntryCodec<Req>, private readonly rsp: EntryCodec<Rsp>, opts: RingOptions = {}) {
    this.slots = new RingSlots(page, req.size, rsp.size);
    this.size = this.slots.size;
    if (opts.attach) {
      const hdr = page.read(0, 16);
      this.reqProdPvt = hdr.readUInt32LE(REQ_PROD_OFF);
      this.rspCons = hdr.readUInt32LE(RSP_PROD_OFF);
    } else {
      this.reqProdPvt = 0;
      this.rspCons = 0;
    }
    this.pendingStart = this.reqProdPvt;
    this.published = this.reqProdPvt;
  }

  /** req_prod_pvt: the next request index (free-running u32). */
  get reqProdPrivate(): number { return this.reqProdPvt; }
  /** rsp_cons: the next response to consume. */
  get rspConsumer(): number { return this.rspCons; }

  /** RING_FREE_REQUESTS */
  freeRequests(): number {
    return this.size - u32(this.reqProdPvt - this.rspCons);
  }

  /** RING_FULL */
  full(): boolean {
    return this.freeRequests() === 0;
  }

  /** Puts a request at req_prod_pvt (RING_GET_REQUEST + req_prod_pvt++). */
  putRequest(r: Req): void {
    if (this.freeRequests() <= 0) throw new RingError('ring_full', `all ${this.size} request slots are in use`);
    // encode now so that a bad entry is refused before it takes a slot
    this.req.encode(r, Buffer.alloc(this.slots.slotSize), 0);
    this.pending.push(r);
    this.reqProdPvt = u32(this.reqProdPvt + 1);
  }

  /** RING_PUSH_REQUESTS_AND_CHECK_NOTIFY: publish req_prod, notify iff the backend's
   * req_event lies in (old, new]. */
  pushRequests(): boolean {
    if (this.pending.length > 0) {
      this.slots.writeSlots(this.pendingStart, this.slots.encodeAll(this.req, this.pending));
      this.pending = [];
    }
    this.pendingStart = this.reqProdPvt;
    const old = this.published;
    const next = this.reqProdPvt;
    this.slots.writeU32(REQ_PROD_OFF, next); // after the entries (wmb)
    this.published = next;
    const reqEvent = this.slots.readU32(REQ_EVENT_OFF); // after req_prod (mb)
    return u32(next - reqEvent) < u32(next - old);
  }

  /** RING_HAS_UNCONSUMED_RESPONSES */
  unconsumedResponses(): number {
    return u32(this.slots.readU32(RSP_PROD_OFF) - this.rspCons);
  }

  /** Every unconsumed response, read in one bulk range (two when wrapping); advances rsp_cons. */
  takeResponses(max = Infinity): Rsp[] {
    const rspProd = this.slots.readU32(RSP_PROD_OFF);
    let n = u32(rspProd - this.rspCons);
    // a backend cannot have answered more than we asked; more is a hostile/corrupt rsp_prod
    const outstanding = u32(this.reqProdPvt - this.rspCons);
    if (n > outstanding) {
      throw new RingError('bad_entry', `rsp_prod ${rspProd} claims ${n} responses but only ${outstanding} requests are outstanding`);
    }
    n = Math.min(n, max);
    if (n === 0) return [];
    const raw = this.slots.readSlots(this.rspCons, n);
    const out: Rsp[] = [];
    for (let i = 0; i < n; i++) out.push(this.rsp.decode(raw, i * this.slots.slotSize));
    this.rspCons = u32(this.rspCons + n);
    return out;
  }

  /** RING_FINAL_CHECK_FOR_RESPONSES: if nothing is pending, ask to be notified at the next
   * response (rsp_event = rsp_cons + 1) and check again to close the race. */
  finalCheckForResponses(): boolean {
    if (this.unconsumedResponses() > 0) return true;
    this.slots.writeU32(RSP_EVENT_OFF, u32(this.rspCons + 1));
    return this.unconsumedResponses() > 0;
  }
}

/**
 * The backend's end (BACK_RING_INIT): consumes requests, produces responses. Requests are
 * copied out of the shared page before the caller sees them, so a frontend that rewrites a
 * slot afterwards cannot change what was validated.
 */
export class BackRing<Req, Rsp> {
  readonly size: number;
  private readonly slots: RingSlots;
  private rspProdPvt: number;
  private reqCons: number;
  private pending: Rsp[] = [];
  private pendingStart: number;
  /** The rsp_prod we last published (we are its only writer). */
  private published: number;

  constructor(page: RingPage, private readonly req: EntryCodec<Req>, private readonly rsp: EntryCodec<Rsp>, opts: RingOptions = {}) {
    this.slots = new RingSlots(page, req.size, rsp.size);
    this.size = this.slots.size;
    if (opts.attach) {
      const hdr = page.read(0, 16);
      this.rspProdPvt = hdr.readUInt32LE(RSP_PROD_OFF);
      this.reqCons = hdr.readUInt32LE(REQ_PROD_OFF);
    } else {
      this.rspProdPvt = 0;
      this.reqCons = 0;
    }
    this.pendingStart = this.rspProdPvt;
    this.published = this.rspProdPvt;
  }

  get reqConsumer(): number { return this.reqCons; }
  get rspProdPrivate(): number { return this.rspProdPvt; }

  /** RING_HAS_UNCONSUMED_REQUESTS: bounded by the slots we could still answer into. */
  unconsumedRequests(): number {
    const reqs = u32(this.slots.readU32(REQ_PROD_OFF) - this.reqCons);
    const room = this.size - u32(this.reqCons - this.rspProdPvt);
    return Math.min(reqs, room);
  }

  /**
   * Copies out up to `max` requests. A producer index claiming more requests than the ring
   * holds is an overflow (nothing taken) unless `unchecked`: then the claim is believed and
   * the slots are read round the ring as far as the answered ones allow, stale or not (a
   * backend without the sanity check, for the protection demonstrations).
   */
  takeRequests(max = Infinity, opts: { unchecked?: boolean } = {}): { requests: Req[]; overflow: boolean } {
    const reqProd = this.slots.readU32(REQ_PROD_OFF);
    const claimed = u32(reqProd - this.reqCons);
    // netback's "Impossible number of requests": the frontend is broken or hostile
    if (claimed > this.size && !opts.unchecked) return { requests: [], overflow: true };
    const room = this.size - u32(this.reqCons - this.rspProdPvt); // RING_REQUEST_CONS_OVERFLOW guard
    const n = Math.max(0, Math.min(claimed, room, max));
    if (n === 0) return { requests: [], overflow: false };
    const raw = this.slots.readSlots(this.reqCons, n); // the copy-out
    const requests: Req[] = [];
    for (let i = 0; i < n; i++) requests.push(this.req.decode(raw, i * this.slots.slotSize));
    this.reqCons = u32(this.reqCons + n);
    return { requests, overflow: false };
  }

  /** Puts a response at rsp_prod_pvt; written to the page in bulk at push time. */
  putResponse(r: Rsp): void {
    if (u32(this.reqCons - this.rspProdPvt) === 0) {
      // a response always answers a consumed request
      throw new RingError('bad_entry', `no consumed request left to answer (rsp_prod_pvt ${this.rspProdPvt}, req_cons ${this.reqCons})`);
    }
    this.rsp.encode(r, Buffer.alloc(this.slots.slotSize), 0);
    this.pending.push(r);
    this.rspProdPvt = u32(this.rspProdPvt + 1);
  }

  /** RING_PUSH_RESPONSES_AND_CHECK_NOTIFY */
  pushResponses(): boolean {
    if (this.pending.length > 0) {
      this.slots.writeSlots(this.pendingStart, this.slots.encodeAll(this.rsp, this.pending));
      this.pending = [];
    }
    this.pendingStart = this.rspProdPvt;
    const old = this.published;
    const next = this.rspProdPvt;
    this.slots.writeU32(RSP_PROD_OFF, next);
    this.published = next;
    const rspEvent = this.slots.readU32(RSP_EVENT_OFF);
    return u32(next - rspEvent) < u32(next - old);
  }

  /** RING_FINAL_CHECK_FOR_REQUESTS: re-arm req_event = req_cons + 1 and check again. */
  finalCheckForRequests(): boolean {
    if (this.unconsumedRequests() > 0) return true;
    this.slots.writeU32(REQ_EVENT_OFF, u32(this.reqCons + 1));
    return this.unconsumedRequests() > 0;
  }
}
