// The descriptor-ring half of a queue-set driver, for buffers that are not the driver's own
// pages: a multiqueue backend posts a guest's granted pages, a passthrough or native driver
// posts pages by their bus address. Each posted buffer carries a cookie the caller gets back
// when the NIC is done with it. Like NicDriver, a descriptor is taken back only when the
// NIC wrote it back (DD) with a completion time no later than the interrupt's.
import { DESC_DD, DESC_EOP, DESC_ERR, DESC_SIZE, decodeWriteback, encodeDescriptor } from './descriptor.js';
import { NicError } from './nic_error.js';

const PAGE = 4096;

/** Where the two rings are: how the driver's CPU reaches them, and their bus addresses for the NIC. */
export interface RingPages {
  read(ring: 'tx' | 'rx', offset: number, length: number): Buffer;
  write(ring: 'tx' | 'rx', offset: number, data: Buffer): void;
  readonly busAddr: { tx: number; rx: number };
}

export interface PostedBuffer<C> {
  /** Bus address the NIC uses (machine address, or I/O virtual address behind an IOMMU). */
  addr: number;
  len: number;
  cookie: C;
}

export interface Completion<C> {
  cookie: C;
  /** Bytes the NIC wrote (RX) or sent (TX). */
  len: number;
  /** Modelled time the NIC finished it. */
  doneNs: number;
  ok: boolean;
}

export class QueueSetDriver<C> {
  private txTail = 0;
  private txClean = 0;
  private rxTail = 0;
  private rxClean = 0;
  private readonly txCookies: Array<C | undefined>;
  private readonly rxCookies: Array<C | undefined>;

  constructor(
    private readonly rings: RingPages,
    readonly size = 256,
  ) {
    if (!Number.isInteger(size) || size < 2 || (size & (size - 1)) !== 0 || size * DESC_SIZE > PAGE) {
      throw new NicError('bad_config', `ring size must be a power of two in 2..${PAGE / DESC_SIZE}, got ${size}`);
    }
    this.txCookies = new Array<C | undefined>(size).fill(undefined);
    this.rxCookies = new Array<C | undefined>(size).fill(undefined);
    rings.write('tx', 0, Buffer.alloc(size * DESC_SIZE));
    rings.write('rx', 0, Buffer.alloc(size * DESC_SIZE));
  }

  /** What Nic.configureQueueSet needs. */
  get setup(): { txRingAddr: number; rxRingAddr: number; size: number } {
    return { txRingAddr: this.rings.busAddr.tx, rxRingAddr: this.rings.busAddr.rx, size: this.size };
  }

  txFree(): number {
    return this.size - 1 - ((this.txTail - this.txClean + this.size) % this.size);
  }

  rxFree(): number {
    return this.size - 1 - ((this.rxTail - this.rxClean + this.size) % this.size);
  }

  /** Queues frames (one buffer each) for transmission; returns the new tail and how many fit. */
  postTx(bufs: Array<PostedBuffer<C>>): { tail: number; accepted: number } {
    return this.post('tx', bufs, DESC_EOP);
  }

  /** Hands empty receive buffers to the NIC; returns the new tail and how many fit. */
  postRx(bufs: Array<PostedBuffer<C>>): { tail: number; accepted: number } {
    return this.post('rx', bufs, 0);
  }

  /**
   * Cookies of the buffers posted on a ring and not taken back yet, in ring order; with
   * `notDone`, only those the device has not written back (DD clear): a TX frame written back
   * was sent, even if the driver had not taken its completion yet.
   */
  outstanding(ring: 'tx' | 'rx', opts: { notDone?: boolean } = {}): C[] {
    const out: C[] = [];
    const cookies = ring === 'tx' ? this.txCookies : this.rxCookies;
    const bytes = opts.notDone ? this.rings.read(ring, 0, this.size * DESC_SIZE) : undefined;
    for (let i = ring === 'tx' ? this.txClean : this.rxClean; i !== (ring === 'tx' ? this.txTail : this.rxTail); i = (i + 1) % this.size) {
      const c = cookies[i];
      if (c === undefined) continue;
      if (bytes && (decodeWriteback(bytes, i * DESC_SIZE).status & DESC_DD) !== 0) continue;
      out.push(c);
    }
    return out;
  }

  /** The queue set's interrupt at tNs: every descriptor done by then, in ring order. */
  reclaim(tNs: number): { tx: Array<Completion<C>>; rx: Array<Completion<C>> } {
    return { tx: this.take('tx', tNs), rx: this.take('rx', tNs) };
  }

  private post(ring: 'tx' | 'rx', bufs: Array<PostedBuffer<C>>, flags: number): { tail: number; accepted: number } {
    const free = ring === 'tx' ? this.txFree() : this.rxFree();
    const n = Math.min(free, bufs.length);
    let tail = ring === 'tx' ? this.txTail : this.rxTail;
    const cookies = ring === 'tx' ? this.txCookies : this.rxCookies;
    for (let i = 0; i < n; i++) {
      const b = bufs[i]!;
      if (!Number.isSafeInteger(b.addr) || b.addr < 0 || !Number.isInteger(b.len) || b.len <= 0 || b.len > 0xffff) {
        throw new NicError('bad_frame', `buffer ${i}: address ${b.addr} / length ${b.len} out of range`);
      }
      this.rings.write(ring, tail * DESC_SIZE, encodeDescriptor({ addr: b.addr, len: b.len, flags, status: 0 }));
      cookies[tail] = b.cookie;
      tail = (tail + 1) % this.size;
    }
    if (ring === 'tx') this.txTail = tail;
    else this.rxTail = tail;
    return { tail, accepted: n };
  }

  private take(ring: 'tx' | 'rx', tNs: number): Array<Completion<C>> {
    const out: Array<Completion<C>> = [];
    let clean = ring === 'tx' ? this.txClean : this.rxClean;
    const tail = ring === 'tx' ? this.txTail : this.rxTail;
    if (clean === tail) return out;
    const cookies = ring === 'tx' ? this.txCookies : this.rxCookies;
    const bytes = this.rings.read(ring, 0, this.size * DESC_SIZE);
    while (clean !== tail) {
      const wb = decodeWriteback(bytes, clean * DESC_SIZE);
      if ((wb.status & DESC_DD) === 0) break;
      const corrupt = !Number.isFinite(wb.doneNs) || wb.doneNs < 0;
      if (!corrupt && wb.doneNs > tNs) break; // done later in modelled time: a later interrupt takes it
      const ok = !corrupt && (wb.status & DESC_ERR) === 0 && (ring === 'tx' || (wb.flags & DESC_EOP) !== 0);
      out.push({ cookie: cookies[clean]!, len: wb.len, doneNs: corrupt ? tNs : wb.doneNs, ok });
      cookies[clean] = undefined;
      clean = (clean + 1) % this.size;
    }
    if (ring === 'tx') this.txClean = clean;
    else this.rxClean = clean;
    return out;
  }
}
