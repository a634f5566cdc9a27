import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, type TcpSegment } from '@vnetlab/frames';
import type { BytePattern } from './byte_pattern.js';
import { TCP_WINDOW, type TcpIo } from './tcp_io.js';
import { seqAdd, seqDiff } from './tcp_seq.js';

export type TcpSinkState = 'syn-received' | 'established' | 'closed' | 'reset';

export interface TcpSinkStats {
  bytesDelivered: number;
  corruptBytes: number;          // delivered bytes that differ from the flow's pattern
  outOfOrderSegments: number;    // discarded, answered with a duplicate ACK
  duplicateSegments: number;     // already delivered, answered with an ACK
  acksSent: number;
}

/**
 * The receiving end of a bulk stream: delivers bytes in order exactly once, checks them
 * against the flow's pattern, discards out-of-order segments (no reassembly queue: the
 * sender's duplicate-ACK and timeout logic recovers), and ACKs every `ackEvery`-th
 * in-order segment, or after `delayedAckNs` (RFC 1122's delayed ACK, Linux's 40 ms).
 * Out-of-order and duplicate segments are ACKed at once (RFC 5681 4.2).
 */
export class TcpSink {
  state: TcpSinkState = 'syn-received';
  private rcvNxt: number;
  private delivered = 0;
  private unacked = 0;
  private delackDeadline: number | undefined;
  private readonly s = { corruptBytes: 0, outOfOrderSegments: 0, duplicateSegments: 0, acksSent: 0 };

  constructor(
    readonly flow: string,
    readonly localPort: number,
    readonly remotePort: number,
    readonly irs: number,
    private readonly iss: number,
    private readonly pattern: BytePattern,
    private readonly ackEvery: number,
    private readonly delayedAckNs: number,
    readonly mss: number,
    io: TcpIo,
  ) {
    this.rcvNxt = seqAdd(irs, 1);
    this.sendSynAck(io);
  }

  onSegment(seg: TcpSegment, tNs: number, io: TcpIo): string | undefined {
    if (seg.flags & TCP_RST) {
      if (this.state === 'closed' || this.state === 'reset') return 'tcp_closed';
      if (seqDiff(seg.seq, this.rcvNxt) !== 0) return 'tcp_bad_rst'; // RFC 5961: exact match only
      this.state = 'reset';
      this.delackDeadline = undefined;
      io.events.push({ kind: 'tcp-failed', flow: this.flow, reason: 'reset', tNs });
      return undefined;
    }
    if (seg.flags & TCP_SYN) {
      // The same SYN again (our SYN-ACK was lost or is late): answer it again.
      if (seg.seq !== this.irs) return 'tcp_bad_syn';
      if (this.state === 'syn-received') this.sendSynAck(io);
      else this.sendAck(io);
      return 'tcp_duplicate';
    }
    if (!(seg.flags & TCP_ACK)) return 'tcp_bad_ack';
    if (this.state === 'reset') return 'tcp_closed';
    if (this.state === 'syn-received') {
      if (seg.ack !== seqAdd(this.iss, 1)) return 'tcp_bad_ack';
      this.state = 'established';
    }
    const fin = (seg.flags & TCP_FIN) !== 0;
    const len = seg.payload.length;
    if (len === 0 && !fin) return undefined; // a pure ACK (the handshake's third segment)
    const off = seqDiff(seg.seq, this.rcvNxt);
    if (off > 0) {
      this.s.outOfOrderSegments++;
      this.sendAck(io); // the duplicate ACK that drives fast retransmit
      return 'tcp_out_of_order';
    }
    const finIsNew = fin && this.state !== 'closed';
    if (off + len < 0 || (off + len === 0 && !finIsNew)) {
      this.s.duplicateSegments++;
      this.sendAck(io); // our ACK was lost: say again where we are
      return 'tcp_duplicate';
    }
    if (this.state === 'closed') return 'tcp_closed'; // data beyond our FIN
    const fresh = seg.payload.subarray(-off);
    if (fresh.length > 0) {
      this.s.corruptBytes += this.pattern.mismatches(this.delivered, fresh);
      this.delivered += fresh.length;
      this.rcvNxt = seqAdd(this.rcvNxt, fresh.length);
      io.events.push({ kind: 'tcp-data', flow: this.flow, bytes: fresh.length, tNs });
    }
    if (fin) {
      this.rcvNxt = seqAdd(this.rcvNxt, 1);
      this.state = 'closed';
      io.events.push({ kind: 'tcp-done', flow: this.flow, bytes: this.delivered, tNs });
      this.sendAck(io);
    } else if (off < 0 || ++this.unacked >= this.ackEvery) {
      this.sendAck(io);
    } else if (this.delackDeadline === undefined) {
      this.delackDeadline = tNs + this.delayedAckNs;
    }
    return undefined;
  }

  nextTimerNs(): number | undefined { return this.delackDeadline; }

  fireTimer(tNs: number, io: TcpIo): void {
    if (this.delackDeadline !== undefined && tNs >= this.delackDeadline) this.sendAck(io);
  }

  stats(): TcpSinkStats {
    return { bytesDelivered: this.delivered, ...this.s };
  }

  private sendAck(io: TcpIo): void {
    this.unacked = 0;
    this.delackDeadline = undefined;
    this.s.acksSent++;
    io.segments.push({
      srcPort: this.localPort, dstPort: this.remotePort,
      seq: seqAdd(this.iss, 1), ack: this.rcvNxt, flags: TCP_ACK, window: TCP_WINDOW, payload: Buffer.alloc(0),
    });
  }

  private sendSynAck(io: TcpIo): void {
    io.segments.push({
      srcPort: this.localPort, dstPort: this.remotePort,
      seq: this.iss, ack: this.rcvNxt, flags: TCP_SYN | TCP_ACK, window: TCP_WINDOW, payload: Buffer.alloc(0), mss: this.mss,
    });
  }
}
