import { FrameError, bytesToMac, completeL4Checksum, segmentTcp } from '@vnetlab/frames';
import { DESC_DD, DESC_EOP, DESC_ERR, DESC_SIZE, DESC_TX_CSUM, DESC_TX_TSO, decodeDescriptor, encodeWriteback, type Descriptor } from './descriptor.js';
import type { DmaPort } from './dma_port.js';
import { NicError } from './nic_error.js';

/** Why a frame was not delivered (every drop carries one). */
export type NicDropReason =
  | 'no_queue' // unicast to a MAC no queue set owns, and no queue set is promiscuous
  | 'rx_no_buffer' // the on-chip packet buffer overflowed while the queue set had no posted RX buffer
  | 'rx_hold_overflow' // more frames waited for a descriptor (in wall time) than the lab holds
  | 'link_down'
  | 'dma_fault' // the DMA port (IOMMU) refused a descriptor or buffer address
  | 'malformed' // shorter than an Ethernet header, an empty TX frame, or headers an offload cannot work on
  | 'oversize' // longer than the posted RX buffer or the NIC's maximum frame
  | 'offload_unsupported'; // a descriptor asked for checksum insertion or TSO the NIC does not have

export interface QueueSetConfig {
  txRingAddr: number;
  rxRingAddr: number;
  /** Descriptors per ring, a power of two. */
  size: number;
  macs: string[];
  /** Receives unicast frames that no queue set owns (the PV driver domain's bridge needs them). */
  promiscuous?: boolean;
  /**
   * The queue set's own DMA context (an IOMMU context for a guest-owned queue set); the
   * NIC's default DmaPort otherwise. Its descriptors and buffers are reached through it.
   */
  dma?: DmaPort;
}

export interface QueueSetCounters {
  txFrames: number;
  txBytes: number;
  rxFrames: number;
  rxBytes: number;
  interrupts: number;
  drops: Partial<Record<NicDropReason, number>>;
}

export interface WireFrame {
  bytes: Buffer;
  /** Modelled time the last bit leaves the NIC. */
  tNs: number;
}

export interface TxResult {
  wire: WireFrame[];
  /** Unicast frames to a MAC another queue set of this NIC owns, switched inside the NIC (VM-to-VM loopback). */
  loopback: Array<{ qs: number; bytes: Buffer; tNs: number }>;
  /** Descriptors the NIC finished with (DD written back). */
  completions: number;
  /** Frames the NIC did not send, with the bytes when it had read them (so that their flow is charged the loss). */
  drops: Array<{ reason: NicDropReason; bytes?: Buffer }>;
}

export interface RxResult {
  /** Queue sets the frame was written into (or is waiting in the packet buffer for). */
  delivered: number[];
  drops: Array<{ qs?: number; reason: NicDropReason; bytes?: Buffer }>;
}

export interface NicInterrupt {
  tNs: number;
  /** One bit per queue set with pending work, as CDNA's NIC hands the hypervisor. */
  bitVector: number;
}

export interface NicOptions {
  name: string;
  lineRateBps: number;
  queueSets: number;
  dma: DmaPort;
  /** At most one interrupt per queue set per coalesceNs of modelled time. */
  coalesceNs?: number;
  /** Largest frame (without FCS) the NIC sends or accepts. */
  maxFrameBytes?: number;
  /**
   * On-chip receive packet buffer per queue set, bytes: where a frame waits for a descriptor.
   * Default 64 KiB, the Rx packet buffer of an Intel 82576 (82576 datasheet, section 1.3).
   */
  rxPacketBufferBytes?: number;
  /** Frames held per queue set while waiting (in wall time) for the next RX doorbell; default RX_HOLD_LIMIT. */
  rxHoldLimit?: number;
  /**
   * What the NIC can do for the driver on transmit: insert TCP/UDP checksums (csum) and cut
   * large TCP segments into MSS frames (tso, checksums included). Default: neither.
   */
  offload?: { csum?: boolean; tso?: boolean };
}

/** The largest frame a TSO descriptor chain may hold: one IPv4 packet behind an Ethernet header, within a u16. */
export const TSO_MAX_FRAME = 0xffff;

/** Frames the lab holds, per queue set, while it waits (in wall time) for the driver's next RX doorbell. */
export const RX_HOLD_LIMIT = 8192;

/** Preamble + SFD (8) and inter-frame gap (12): on the wire but not in any buffer. */
export const ETH_WIRE_OVERHEAD = 20;
/** The frame check sequence the NIC appends on transmit. */
export const ETH_FCS = 4;
/** Shorter frames are padded to this (without FCS) on the wire. */
export const ETH_MIN_FRAME = 60;
export const MAX_QUEUE_SETS = 32;

/** Time a frame of n buffer bytes occupies the wire: (max(n, 60) + FCS + 20) * 8 / rate. */
export function wireTimeNs(n: number, lineRateBps: number): number {
  return ((Math.max(n, ETH_MIN_FRAME) + ETH_FCS + ETH_WIRE_OVERHEAD) * 8 * 1e9) / lineRateBps;
}

interface QueueSet {
  cfg: QueueSetConfig;
  dma: DmaPort;
  macs: Set<string>;
  /** Modelled time each RX descriptor was handed to the NIC (by its doorbell). */
  rxPostedNs: number[];
  /** Frames that arrived when no descriptor had been posted yet (as far as wall time knows). */
  rxHeld: Array<{ bytes: Buffer; tNs: number }>;
  /** Frames in the packet buffer in modelled time: arrived at arr, DMA'd out at dma. */
  rxInBuffer: Array<{ arr: number; dma: number; bytes: number }>;
  txHead: number;
  txTail: number;
  rxHead: number;
  rxTail: number;
  /** Modelled times of completions not yet signalled by an interrupt. */
  pending: number[];
  lastIrqNs: number;
  counters: QueueSetCounters;
}

/**
 * A multiqueue NIC (82576/e1000-like, simplified). Each queue set has a TX and an RX
 * descriptor ring in machine memory that the NIC reaches only through its DmaPort.
 * Received frames are demultiplexed by destination MAC to the queue set that owns it.
 */
export class Nic {
  readonly name: string;
  readonly lineRateBps: number;
  readonly queueSetCount: number;
  readonly coalesceNs: number;
  readonly maxFrameBytes: number;
  readonly rxPacketBufferBytes: number;
  readonly rxHoldLimit: number;
  readonly offload: { csum: boolean; tso: boolean };
  /** Frames the NIC cut out of TSO descriptors, and checksums it inserted (counters for tests and metrics). */
  readonly offloadWork = { tsoSegments: 0, tsoFrames: 0, checksums: 0 };
  private readonly dma: DmaPort;
  private readonly qsets: Array<QueueSet | undefined>;
  private readonly nicDrops: Partial<Record<NicDropReason, number>> = {};
  private linkUp = true;
  private wireBusyUntil = 0;
  private loopbackBusyUntil = 0;
  /** The last DMA fault, for logs. */
  lastDmaFault: { tNs: number; qs: number; detail: string } | undefined;

  constructor(opts: NicOptions) {
    if (!(opts.lineRateBps > 0) || !Number.isFinite(opts.lineRateBps)) throw new NicError('bad_config', `lineRateBps must be > 0, got ${opts.lineRateBps}`);
    if (!Number.isInteger(opts.queueSets) || opts.queueSets < 1 || opts.queueSets > MAX_QUEUE_SETS) {
      throw new NicError('bad_config', `queueSets must be an integer in 1..${MAX_QUEUE_SETS}, got ${opts.queueSets}`);
    }
    const coalesceNs = opts.coalesceNs ?? 50_000;
    if (!(coalesceNs >= 0) || !Number.isFinite(coalesceNs)) throw new NicError('bad_config', `coalesceNs must be >= 0, got ${coalesceNs}`);
    this.name = opts.name;
    this.lineRateBps = opts.lineRateBps;
    this.queueSetCount = opts.queueSets;
    this.coalesceNs = coalesceNs;
    this.maxFrameBytes = opts.maxFrameBytes ?? 16_128;
    const rxPacketBufferBytes = opts.rxPacketBufferBytes ?? 65_536;
    if (!Number.isSafeInteger(rxPacketBufferBytes) || rxPacketBufferBytes < 0) {
      throw new NicError('bad_config', `rxPacketBufferBytes must be a non-negative integer, got ${rxPacketBufferBytes}`);
    }
    const rxHoldLimit = opts.rxHoldLimit ?? RX_HOLD_LIMIT;
    if (!Number.isSafeInteger(rxHoldLimit) || rxHoldLimit < 0) {
      throw new NicError('bad_config', `rxHoldLimit must be a non-negative integer, got ${rxHoldLimit}`);
    }
    this.rxPacketBufferBytes = rxPacketBufferBytes;
    this.rxHoldLimit = rxHoldLimit;
    this.dma = opts.dma;
    this.offload = { csum: opts.offload?.csum === true, tso: opts.offload?.tso === true };
    this.qsets = new Array<QueueSet | undefined>(opts.queueSets).fill(undefined);
  }

  get link(): boolean {
    return this.linkUp;
  }

  configureQueueSet(qs: number, cfg: QueueSetConfig): void {
    this.checkQs(qs);
    const { size } = cfg;
    if (!Number.isInteger(size) || size < 2 || (size & (size - 1)) !== 0 || size > 65536) {
      throw new NicError('bad_config', `queue set ${qs}: ring size must be a power of two in 2..65536, got ${size}`);
    }
    for (const a of [cfg.txRingAddr, cfg.rxRingAddr]) {
      if (!Number.isSafeInteger(a) || a < 0) throw new NicError('bad_config', `queue set ${qs}: ring address must be a non-negative integer, got ${a}`);
    }
    const macs = new Set(cfg.macs.map((m) => m.toLowerCase()));
    for (const m of macs) {
      if (!/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(m)) throw new NicError('bad_config', `queue set ${qs}: bad MAC '${m}'`);
    }
    // Reconfiguring resets the rings (as a queue reset does), but keeps the counters.
    const old = this.qsets[qs];
    this.qsets[qs] = {
      cfg: { ...cfg, macs: [...macs] },
      dma: cfg.dma ?? this.dma,
      macs,
      txHead: 0,
      txTail: 0,
      rxHead: 0,
      rxTail: 0,
      pending: [],
      lastIrqNs: -Infinity,
      rxPostedNs: new Array<number>(size).fill(0),
      rxHeld: [],
      rxInBuffer: [],
      counters: old?.counters ?? { txFrames: 0, txBytes: 0, rxFrames: 0, rxBytes: 0, interrupts: 0, drops: {} },
    };
  }

  /** The driver advanced the TX tail: send every complete frame in [head, tail). */
  doorbellTx(qs: number, tail: number, tNs: number): TxResult {
    const q = this.configured(qs);
    this.checkTail(q, qs, tail);
    checkTime(tNs);
    q.txTail = tail;
    const result: TxResult = { wire: [], loopback: [], completions: 0, drops: [] };
    const size = q.cfg.size;
    const count = (tail - q.txHead + size) % size;
    if (count === 0) return result;

    let descs: Descriptor[];
    try {
      descs = this.fetchDescriptors(q.dma, q.cfg.txRingAddr, size, q.txHead, count);
    } catch (e) {
      // The ring itself is unreachable: nothing can be sent or completed.
      this.drop(q, qs, 'dma_fault', tNs, e);
      result.drops.push({ reason: 'dma_fault' });
      return result;
    }

    let first = 0;
    for (let i = 0; i < descs.length; i++) {
      if ((descs[i]!.flags & DESC_EOP) === 0) continue;
      // descs[first..i] form one frame.
      const frameDescs = descs.slice(first, i + 1);
      const { doneNs, reason } = this.sendFrame(q, qs, frameDescs, tNs, result);
      const status = DESC_DD | (reason === 'dma_fault' ? DESC_ERR : 0);
      for (let k = first; k <= i; k++) {
        const idx = (q.txHead + k) % size;
        const d = descs[k]!;
        // Written back now in wall time, but stamped with the modelled time the wire finishes
        // the frame: the driver must not free the buffer before then.
        try {
          q.dma.write(q.cfg.txRingAddr + idx * DESC_SIZE, encodeWriteback({ doneNs, len: d.len, flags: d.flags, status }));
        } catch (e) {
          this.noteFault(qs, tNs, e);
        }
      }
      result.completions += i + 1 - first;
      q.pending.push(doneNs);
      first = i + 1;
    }
    // Descriptors after the last EOP belong to a frame not yet complete: they wait.
    q.txHead = (q.txHead + first) % size;
    return result;
  }

  /**
   * The driver advanced the RX tail: buffers in [old tail, tail) are the NIC's to fill from
   * modelled time tNs on. Frames waiting in the packet buffer go into them now.
   */
  doorbellRx(qs: number, tail: number, tNs: number): RxResult {
    const q = this.configured(qs);
    this.checkTail(q, qs, tail);
    checkTime(tNs);
    for (let i = q.rxTail; i !== tail; i = (i + 1) % q.cfg.size) q.rxPostedNs[i] = tNs;
    q.rxTail = tail;
    const result: RxResult = { delivered: [], drops: [] };
    while (q.rxHeld.length > 0 && q.rxHead !== q.rxTail) {
      const f = q.rxHeld.shift()!;
      const reason = this.writeRx(q, qs, f.bytes, f.tNs);
      if (reason) result.drops.push({ qs, reason, bytes: f.bytes });
      else result.delivered.push(qs);
    }
    return result;
  }

  /** A frame arrives from the wire at tNs. */
  receive(bytes: Buffer, tNs: number): RxResult {
    checkTime(tNs);
    const result: RxResult = { delivered: [], drops: [] };
    if (!this.linkUp) return this.nicDrop(result, 'link_down');
    if (bytes.length < 14) return this.nicDrop(result, 'malformed');
    if (bytes.length > this.maxFrameBytes) return this.nicDrop(result, 'oversize');

    const targets = this.demux(bytes);
    if (targets.length === 0) return this.nicDrop(result, 'no_queue');
    for (const qs of targets) {
      const q = this.qsets[qs]!;
      if (q.rxHeld.length > 0 || q.rxHead === q.rxTail) {
        // No descriptor yet as far as wall time knows; the driver's next doorbell may still
        // carry one posted before this frame arrived (in modelled time), so wait for it.
        if (q.rxHeld.length >= this.rxHoldLimit) result.drops.push({ qs, reason: this.qsDrop(q, 'rx_hold_overflow'), bytes });
        else {
          // A copy, as the device copies the frame into its packet buffer on arrival: the
          // caller may reuse its buffer before the frame is written into guest memory.
          q.rxHeld.push({ bytes: Buffer.from(bytes), tNs });
          result.delivered.push(qs);
        }
        continue;
      }
      const reason = this.writeRx(q, qs, bytes, tNs);
      if (reason) result.drops.push({ qs, reason, bytes });
      else result.delivered.push(qs);
    }
    return result;
  }

  /**
   * Interrupts due by tNs. Per queue set at most one per coalesceNs, raised at
   * max(first pending completion, last interrupt + coalesceNs); queue sets due at the same
   * time share one interrupt and its bit vector.
   *
   * What a driver that takes only completions with doneNs <= the interrupt's time relies on:
   * an interrupt at T covers only completions <= T (and at least one), and a completion
   * stays pending until an interrupt at or after its doneNs covers it, however late (in wall
   * time) it was written back.
   */
  takeInterrupts(tNs: number): NicInterrupt[] {
    checkTime(tNs);
    const byTime = new Map<number, number>();
    this.qsets.forEach((q, qs) => {
      if (!q) return;
      for (;;) {
        const due = this.dueNs(q);
        if (due === undefined || due > tNs) break;
        q.pending = q.pending.filter((t) => t > due);
        q.lastIrqNs = due;
        q.counters.interrupts++;
        byTime.set(due, (byTime.get(due) ?? 0) | (1 << qs));
      }
    });
    return [...byTime.entries()].sort((a, b) => a[0] - b[0]).map(([t, bitVector]) => ({ tNs: t, bitVector: bitVector >>> 0 }));
  }

  /** When the next interrupt will be due if nothing else happens (for the owner's timer). */
  nextInterruptNs(): number | undefined {
    let next: number | undefined;
    for (const q of this.qsets) {
      if (!q) continue;
      const due = this.dueNs(q);
      if (due !== undefined && (next === undefined || due < next)) next = due;
    }
    return next;
  }

  setLink(up: boolean, tNs: number): void {
    checkTime(tNs);
    this.linkUp = up;
  }

  counters(qs: number): QueueSetCounters {
    const q = this.configured(qs);
    return { ...q.counters, drops: { ...q.counters.drops } };
  }

  /** Drops by reason over the whole NIC (queue-set drops included). */
  drops(): Partial<Record<NicDropReason, number>> {
    const total: Partial<Record<NicDropReason, number>> = { ...this.nicDrops };
    for (const q of this.qsets) {
      if (!q) continue;
      for (const [r, n] of Object.entries(q.counters.drops) as Array<[NicDropReason, number]>) total[r] = (total[r] ?? 0) + n;
    }
    return total;
  }

  /** Ring indices, for tests and for `vnetlab trace`. */
  ringState(qs: number): { txHead: number; txTail: number; rxHead: number; rxTail: number } {
    const q = this.configured(qs);
    return { txHead: q.txHead, txTail: q.txTail, rxHead: q.rxHead, rxTail: q.rxTail };
  }

  private sendFrame(q: QueueSet, qs: number, descs: Descriptor[], tNs: number, result: TxResult): { doneNs: number; reason?: NicDropReason } {
    const r = this.sendFrameBytes(q, qs, descs, tNs, result);
    // every wire frame the descriptors stood for is told, with its bytes once read
    if (r.reason) for (const bytes of r.lost ?? [undefined]) result.drops.push({ reason: r.reason, ...(bytes ? { bytes } : {}) });
    return { doneNs: r.doneNs, ...(r.reason ? { reason: r.reason } : {}) };
  }

  private sendFrameBytes(q: QueueSet, qs: number, descs: Descriptor[], tNs: number, result: TxResult): { doneNs: number; reason?: NicDropReason; lost?: Buffer[] } {
    const total = descs.reduce((n, d) => n + d.len, 0);
    const first = descs[0]!;
    const tso = (first.flags & DESC_TX_TSO) !== 0;
    const csum = (first.flags & DESC_TX_CSUM) !== 0;
    if (total === 0) return { doneNs: tNs, reason: this.qsDrop(q, 'malformed') };
    if ((tso && !this.offload.tso) || (csum && !this.offload.csum && !tso)) return { doneNs: tNs, reason: this.qsDrop(q, 'offload_unsupported') };
    if (total > (tso ? TSO_MAX_FRAME : this.maxFrameBytes)) return { doneNs: tNs, reason: this.qsDrop(q, 'oversize') };
    let bytes: Buffer;
    try {
      const parts = descs.filter((d) => d.len > 0).map((d) => q.dma.read(d.addr, d.len));
      bytes = parts.length === 1 ? parts[0]! : Buffer.concat(parts, total);
    } catch (e) {
      this.noteFault(qs, tNs, e);
      return { doneNs: tNs, reason: this.qsDrop(q, 'dma_fault') };
    }
    let frames = [bytes];
    try {
      if (tso) {
        // the device cuts the segment: every frame with its own headers and checksums
        frames = segmentTcp(bytes, first.mss ?? 0);
        this.offloadWork.tsoSegments++;
        this.offloadWork.tsoFrames += frames.length;
      } else if (csum) {
        bytes = Buffer.from(bytes); // the NIC's own copy: never written back to host memory
        completeL4Checksum(bytes);
        frames = [bytes];
        this.offloadWork.checksums++;
      }
    } catch (e) {
      if (!(e instanceof FrameError)) throw e;
      return { doneNs: tNs, reason: this.qsDrop(q, 'malformed'), lost: [bytes] };
    }
    if (frames.some((f) => f.length > this.maxFrameBytes)) return { doneNs: tNs, reason: this.qsDrop(q, 'oversize'), lost: frames };
    let doneNs = tNs;
    for (let k = 0; k < frames.length; k++) {
      const r = this.emitFrame(q, qs, frames[k]!, tNs, result);
      if (r.reason) {
        // the rest of the segment goes the same way (each one counted, as each is a frame of its flow)
        for (let j = k + 1; j < frames.length; j++) this.qsDrop(q, r.reason);
        return { ...r, lost: frames.slice(k) };
      }
      doneNs = r.doneNs;
    }
    return { doneNs };
  }

  /** One frame the NIC sends: switched inside to another queue set, or onto the wire (broadcasts both). */
  private emitFrame(q: QueueSet, qs: number, bytes: Buffer, tNs: number, result: TxResult): { doneNs: number; reason?: NicDropReason } {
    const local = this.localOwner(bytes, qs);
    if (local !== undefined) {
      // Switched inside the NIC: through its internal port at line rate, never on the wire.
      const start = Math.max(tNs, this.loopbackBusyUntil);
      const end = start + wireTimeNs(bytes.length, this.lineRateBps);
      this.loopbackBusyUntil = end;
      result.loopback.push({ qs: local, bytes, tNs: end });
      const reason = this.receiveInto(local, bytes, end);
      if (reason) result.drops.push({ reason, bytes });
      q.counters.txFrames++;
      q.counters.txBytes += bytes.length;
      return { doneNs: end };
    }
    if ((bytes[0]! & 1) === 1) {
      // broadcast / multicast: every other queue set of this NIC hears it too (as VMDq
      // replicates to its pools), and it goes out on the wire
      for (let i = 0; i < this.qsets.length; i++) {
        if (i === qs || !this.qsets[i]) continue;
        const reason = this.receiveInto(i, bytes, tNs);
        if (reason) result.drops.push({ reason, bytes });
        else result.loopback.push({ qs: i, bytes, tNs });
      }
    }
    if (!this.linkUp) return { doneNs: tNs, reason: this.qsDrop(q, 'link_down') };
    // The wire is one FIFO shared by all queue sets, in order of doorbell.
    const start = Math.max(tNs, this.wireBusyUntil);
    const end = start + wireTimeNs(bytes.length, this.lineRateBps);
    this.wireBusyUntil = end;
    result.wire.push({ bytes, tNs: end });
    q.counters.txFrames++;
    q.counters.txBytes += bytes.length;
    return { doneNs: end };
  }

  /**
   * Moves a frame that arrived at tNs into the next posted buffer. It leaves the packet
   * buffer when that buffer exists in modelled time (max(arrival, posted)); if the packet
   * buffer is already full at its arrival, the frame is lost as on the real device.
   */
  private writeRx(q: QueueSet, qs: number, bytes: Buffer, tNs: number): NicDropReason | undefined {
    if (q.rxHead === q.rxTail) return this.qsDrop(q, 'rx_no_buffer');
    q.rxInBuffer = q.rxInBuffer.filter((f) => f.dma > tNs);
    const occupied = q.rxInBuffer.reduce((n, f) => n + f.bytes, 0);
    if (occupied + bytes.length > this.rxPacketBufferBytes) return this.qsDrop(q, 'rx_no_buffer');
    const dmaNs = Math.max(tNs, q.rxPostedNs[q.rxHead] ?? 0);
    if (dmaNs > tNs) q.rxInBuffer.push({ arr: tNs, dma: dmaNs, bytes: bytes.length });
    tNs = dmaNs;
    const descAddr = q.cfg.rxRingAddr + q.rxHead * DESC_SIZE;
    let desc: Descriptor;
    try {
      desc = decodeDescriptor(q.dma.read(descAddr, DESC_SIZE));
    } catch (e) {
      // The ring is unreachable: keep the head, every frame for this queue set drops.
      this.noteFault(qs, tNs, e);
      return this.qsDrop(q, 'dma_fault');
    }
    if (bytes.length > desc.len) return this.qsDrop(q, 'oversize');
    let status = DESC_DD;
    let len = bytes.length;
    let reason: NicDropReason | undefined;
    try {
      q.dma.write(desc.addr, bytes);
    } catch (e) {
      // A refused buffer is given back to the driver marked bad, so the ring does not stall.
      this.noteFault(qs, tNs, e);
      status |= DESC_ERR;
      len = 0;
      reason = this.qsDrop(q, 'dma_fault');
    }
    try {
      // Stamped with the DMA's modelled time, which may be after the present in wall time.
      q.dma.write(descAddr, encodeWriteback({ doneNs: tNs, len, flags: DESC_EOP, status }));
    } catch (e) {
      this.noteFault(qs, tNs, e);
    }
    q.rxHead = (q.rxHead + 1) % q.cfg.size;
    q.pending.push(tNs);
    if (!reason) {
      q.counters.rxFrames++;
      q.counters.rxBytes += bytes.length;
    }
    return reason;
  }

  private demux(bytes: Buffer): number[] {
    const all: number[] = [];
    this.qsets.forEach((q, qs) => q && all.push(qs));
    if ((bytes[0]! & 1) === 1) return all; // broadcast / multicast: every queue set
    const dst = bytesToMac(bytes, 0);
    const owners = all.filter((qs) => this.qsets[qs]!.macs.has(dst));
    if (owners.length > 0) return owners;
    return all.filter((qs) => this.qsets[qs]!.cfg.promiscuous === true);
  }

  /** The queue set (other than `from`) that owns a unicast frame's destination MAC, if any. */
  private localOwner(bytes: Buffer, from: number): number | undefined {
    if (bytes.length < 6 || (bytes[0]! & 1) === 1) return undefined;
    const dst = bytesToMac(bytes, 0);
    for (let i = 0; i < this.qsets.length; i++) if (i !== from && this.qsets[i]?.macs.has(dst)) return i;
    return undefined;
  }

  /** A frame for queue set `qs` from inside the NIC, with the same packet-buffer rules as from the wire. */
  private receiveInto(qs: number, bytes: Buffer, tNs: number): NicDropReason | undefined {
    const q = this.qsets[qs]!;
    if (q.rxHeld.length > 0 || q.rxHead === q.rxTail) {
      if (q.rxHeld.length >= this.rxHoldLimit) return this.qsDrop(q, 'rx_hold_overflow');
      q.rxHeld.push({ bytes: Buffer.from(bytes), tNs });
      return undefined;
    }
    return this.writeRx(q, qs, bytes, tNs);
  }

  private fetchDescriptors(dma: DmaPort, ringAddr: number, size: number, head: number, count: number): Descriptor[] {
    // One burst read, or two when [head, head + count) wraps.
    const firstRun = Math.min(count, size - head);
    const bufs = [dma.read(ringAddr + head * DESC_SIZE, firstRun * DESC_SIZE)];
    if (count > firstRun) bufs.push(dma.read(ringAddr, (count - firstRun) * DESC_SIZE));
    const all = Buffer.concat(bufs);
    const out: Descriptor[] = [];
    for (let i = 0; i < count; i++) out.push(decodeDescriptor(all, i * DESC_SIZE));
    return out;
  }

  private dueNs(q: QueueSet): number | undefined {
    if (q.pending.length === 0) return undefined;
    let first = Infinity;
    for (const t of q.pending) if (t < first) first = t;
    return Math.max(first, q.lastIrqNs + this.coalesceNs);
  }

  private drop(q: QueueSet, qs: number, reason: NicDropReason, tNs: number, e: unknown): void {
    this.noteFault(qs, tNs, e);
    this.qsDrop(q, reason);
  }

  private qsDrop(q: QueueSet, reason: NicDropReason): NicDropReason {
    q.counters.drops[reason] = (q.counters.drops[reason] ?? 0) + 1;
    return reason;
  }

  private nicDrop(result: RxResult, reason: NicDropReason): RxResult {
    this.nicDrops[reason] = (this.nicDrops[reason] ?? 0) + 1;
    result.drops.push({ reason });
    return result;
  }

  private noteFault(qs: number, tNs: number, e: unknown): void {
    this.lastDmaFault = { tNs, qs, detail: e instanceof Error ? e.message : String(e) };
  }

  private checkQs(qs: number): void {
    if (!Number.isInteger(qs) || qs < 0 || qs >= this.queueSetCount) {
      throw new NicError('bad_queue_set', `${this.name}: queue set ${qs} does not exist (0..${this.queueSetCount - 1})`);
    }
  }

  private configured(qs: number): QueueSet {
    this.checkQs(qs);
    const q = this.qsets[qs];
    if (!q) throw new NicError('not_configured', `${this.name}: queue set ${qs} is not configured`);
    return q;
  }

  private checkTail(q: QueueSet, qs: number, tail: number): void {
    if (!Number.isInteger(tail) || tail < 0 || tail >= q.cfg.size) {
      throw new NicError('bad_tail', `${this.name}: queue set ${qs}: tail must be an integer in 0..${q.cfg.size - 1}, got ${tail}`);
    }
  }
}

function checkTime(tNs: number): void {
  // past 2^53 ns a double no longer holds every nanosecond of the modelled clock
  if (typeof tNs !== 'number' || !Number.isFinite(tNs) || tNs < 0 || tNs > Number.MAX_SAFE_INTEGER) throw new NicError('bad_time', `tNs must be a modelled time in 0..2^53 ns, got ${String(tNs)}`);
}
