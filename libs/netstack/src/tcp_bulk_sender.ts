import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, TSO_MAX_SEGMENTS, type TcpSegment } from '@vnetlab/frames';
import type { BytePattern } from './byte_pattern.js';
import { TCP_WINDOW, type TcpIo, type TcpTimerOptions } from './tcp_io.js';
import { seqAdd, seqDiff } from './tcp_seq.js';

export type TcpSenderState = 'syn-sent' | 'established' | 'closed' | 'failed';

export interface TcpSenderStats {
  bytesSent: number;          // new data bytes put on the wire (each byte once)
  bytesRetransmitted: number;
  bytesAcked: number;
  segmentsSent: number;       // data and FIN segments, retransmissions included
  retransmissions: number;    // segments sent again (timeout, fast retransmit, go-back-N)
  timeouts: number;
  fastRetransmits: number;
  cwnd: number;
  ssthresh: number | undefined; // undefined until the first loss (unbounded slow start)
  srttNs: number | undefined;
  rtoNs: number;
}

/**
 * The sending end of a bulk stream of `totalBytes` pattern bytes: 3-way handshake, slow
 * start and congestion avoidance (RFC 5681), fast retransmit on 3 duplicate ACKs with
 * limited transmit (RFC 3042), the
 * retransmission timer (RFC 6298) in modelled time, then FIN.
 *
 * Stream positions are kept as offsets: data byte k sits at seq iss+1+k, the FIN at
 * iss+1+totalBytes. Data leaves only when the owner pulls it (pull()), so the owner paces
 * the stream by its TX ring space; control segments (SYN, handshake ACK) go out at once.
 * The receiver discards out-of-order data (no reassembly queue), so everything sent after
 * a lost segment is lost too: on a timeout or a fast retransmit the sender goes back to the
 * first unacknowledged byte and resends from there (go-back-N). The window is halved once
 * per loss episode (RFC 6582's "recover" guard); a loss among the resent segments (three
 * duplicate ACKs above the last go-back point) goes back again without halving again.
 */
export class TcpBulkSender {
  state: TcpSenderState = 'syn-sent';
  private irs = 0;
  private sndUna = 0;      // first unacknowledged offset
  private sndNxt = 0;      // next offset to send
  private sndMax = 0;      // one past the highest offset ever sent (FIN counts as one)
  private rwnd = TCP_WINDOW;
  private cwnd: number;
  private ssthresh = Number.POSITIVE_INFINITY;
  private dupAcks = 0;
  private inRecovery = false;
  private recover = -1;    // RFC 6582 "recover": highest offset sent when loss was detected
  private goBackAt = -1;   // sndUna at the last go-back
  private rtoNs: number;
  private srttNs: number | undefined;
  private rttvarNs = 0;
  private timing: { end: number; sentNs: number } | undefined; // Karn: one segment timed at a time
  private synSentNs: number;
  private synRetransmitted = false;
  private rtoDeadline: number | undefined;
  private consecutiveTimeouts = 0;
  private sentAllReported = false;
  private readonly s = { bytesSent: 0, bytesRetransmitted: 0, segmentsSent: 0, retransmissions: 0, timeouts: 0, fastRetransmits: 0 };

  constructor(
    readonly flow: string,
    readonly localPort: number,
    readonly remotePort: number,
    readonly totalBytes: number,
    public mss: number,
    private readonly iss: number,
    private readonly pattern: BytePattern,
    private readonly timers: TcpTimerOptions,
    tNs: number,
    io: TcpIo,
    /**
     * TSO: the most payload bytes one segment may carry (the device cuts it into MSS frames).
     * Undefined or not above the MSS: every segment is at most one MSS, as without TSO.
     */
    private readonly gsoMax?: number,
  ) {
    // RFC 5681 initial window.
    this.cwnd = initialWindow(mss);
    this.rtoNs = timers.initialRtoNs;
    this.synSentNs = tNs;
    this.sendSyn(io);
    this.rtoDeadline = tNs + this.rtoNs;
  }

  /** Whether pull() would put at least one segment out now. */
  canSend(): boolean {
    if (this.state !== 'established') return false;
    if (this.sndNxt < this.totalBytes) return this.nextLen(this.sndNxt) > 0;
    return this.sndNxt === this.totalBytes; // only the FIN is left
  }

  /** Up to `max` data/FIN segments, as the window allows. */
  pull(tNs: number, max: number, io: TcpIo): number {
    let n = 0;
    while (n < max && this.state === 'established') {
      if (this.sndNxt < this.totalBytes) {
        const len = this.nextLen(this.sndNxt);
        if (len === 0) break;
        this.sendAt(this.sndNxt, tNs, io, len);
        this.sndNxt += len;
      } else if (this.sndNxt === this.totalBytes) {
        this.sendAt(this.sndNxt, tNs, io);
        this.sndNxt++;
      } else break;
      n++;
    }
    return n;
  }

  /** A segment from the peer; returns a drop reason when it was not usable. */
  onSegment(seg: TcpSegment, tNs: number, io: TcpIo): string | undefined {
    if (seg.flags & TCP_RST) {
      if (this.state === 'closed' || this.state === 'failed') return 'tcp_closed';
      if (!(seg.flags & TCP_ACK) || seqDiff(seg.ack, this.seqOf(this.sndUna)) < 0 || seqDiff(seg.ack, this.seqOf(this.sndMax)) > 0) {
        return 'tcp_bad_rst'; // RFC 5961: only a reset that acks something in flight is believed
      }
      this.fail('reset', tNs, io);
      return undefined;
    }
    if (this.state === 'syn-sent') return this.onSynSent(seg, tNs, io);
    if (this.state === 'failed') return 'tcp_closed';
    if (seg.flags & TCP_SYN) {
      // A second SYN-ACK (our SYN went twice): the peer only needs our ACK again.
      this.sendAck(io);
      return 'tcp_duplicate';
    }
    if (!(seg.flags & TCP_ACK)) return 'tcp_bad_ack';
    const ackOff = this.sndUna + seqDiff(seg.ack, this.seqOf(this.sndUna));
    if (ackOff > this.sndMax) return 'tcp_bad_ack'; // acks what was never sent
    if (ackOff < this.sndUna) return undefined;     // an old ACK overtaken by newer ones
    if (this.state === 'closed') return undefined;
    const windowChanged = seg.window !== this.rwnd;
    this.rwnd = seg.window;
    if (ackOff > this.sndUna) this.onNewAck(ackOff, tNs, io);
    else if (seg.payload.length === 0 && !(seg.flags & TCP_FIN) && !windowChanged && this.sndMax > this.sndUna) this.onDupAck();
    return undefined;
  }

  nextTimerNs(): number | undefined { return this.rtoDeadline; }

  /** The retransmission timer (RFC 6298 5.4–5.7). */
  fireTimer(tNs: number, io: TcpIo): void {
    if (this.rtoDeadline === undefined || tNs < this.rtoDeadline) return;
    this.s.timeouts++;
    this.consecutiveTimeouts++;
    if (this.consecutiveTimeouts > this.timers.maxRetries) { this.fail('timeout', tNs, io); return; }
    this.rtoNs = Math.min(this.rtoNs * 2, this.timers.maxRtoNs);
    this.timing = undefined;
    if (this.state === 'syn-sent') {
      this.synRetransmitted = true;
      this.s.retransmissions++;
      this.sendSyn(io);
    } else {
      const flight = this.sndMax - this.sndUna;
      this.ssthresh = Math.max(Math.floor(flight / 2), 2 * this.mss);
      this.cwnd = this.mss; // loss window
      this.recover = this.sndMax - 1;
      this.inRecovery = true;
      this.dupAcks = 0;
      this.goBack(); // the owner pulls the resend
    }
    this.rtoDeadline = tNs + this.rtoNs;
  }

  stats(): TcpSenderStats {
    return {
      ...this.s,
      bytesAcked: Math.min(this.sndUna, this.totalBytes),
      cwnd: this.cwnd, ssthresh: Number.isFinite(this.ssthresh) ? this.ssthresh : undefined, srttNs: this.srttNs, rtoNs: this.rtoNs,
    };
  }

  private onSynSent(seg: TcpSegment, tNs: number, io: TcpIo): string | undefined {
    const want = TCP_SYN | TCP_ACK;
    if ((seg.flags & want) !== want || seg.ack !== seqAdd(this.iss, 1)) return 'tcp_bad_ack';
    this.irs = seg.seq;
    this.rwnd = seg.window;
    if (seg.mss !== undefined && seg.mss > 0 && seg.mss < this.mss) {
      this.mss = seg.mss; // the peer's MSS option caps ours
      this.cwnd = initialWindow(this.mss);
    }
    this.state = 'established';
    if (!this.synRetransmitted) this.rttSample(tNs - this.synSentNs, tNs, io);
    this.consecutiveTimeouts = 0;
    this.rtoDeadline = undefined; // re-armed by the first data segment
    this.sendAck(io);
    return undefined;
  }

  private onNewAck(ackOff: number, tNs: number, io: TcpIo): void {
    const acked = ackOff - this.sndUna;
    this.sndUna = ackOff;
    if (this.sndNxt < this.sndUna) this.sndNxt = this.sndUna;
    this.consecutiveTimeouts = 0;
    if (this.timing && ackOff >= this.timing.end) {
      this.rttSample(tNs - this.timing.sentNs, tNs, io);
      this.timing = undefined;
    }
    if (this.inRecovery && ackOff > this.recover) this.inRecovery = false; // all of the lossy window is acked
    if (this.cwnd < this.ssthresh) {
      this.cwnd += Math.min(acked, this.mss);                                  // slow start
    } else {
      this.cwnd += Math.max(1, Math.floor((this.mss * this.mss) / this.cwnd)); // congestion avoidance
    }
    // New data acked: drop the timer backoff (as Linux does with RTT samples from
    // timestamps; Karn's rule alone would keep it backed off through a whole go-back).
    this.rtoNs = this.computeRto();
    this.dupAcks = 0;
    if (!this.sentAllReported && this.sndUna >= this.totalBytes) {
      this.sentAllReported = true;
      io.events.push({ kind: 'tcp-sent-all', flow: this.flow, bytes: this.totalBytes, tNs });
    }
    if (this.sndUna > this.totalBytes) {
      this.state = 'closed'; // our FIN is acked
      this.rtoDeadline = undefined;
    } else {
      this.rtoDeadline = this.sndMax > this.sndUna ? tNs + this.rtoNs : undefined;
    }
  }

  private onDupAck(): void {
    if (++this.dupAcks !== 3) return;
    if (!this.inRecovery) {
      if (this.sndUna <= this.recover) return; // from a window sent before the last loss episode
      const flight = this.sndMax - this.sndUna;
      this.ssthresh = Math.max(Math.floor(flight / 2), 2 * this.mss);
      this.cwnd = this.ssthresh;
      this.recover = this.sndMax - 1;
      this.inRecovery = true;
    } else if (this.sndUna <= this.goBackAt) {
      return; // echoes of segments sent before our last go-back
    }
    this.s.fastRetransmits++;
    this.goBack();
  }

  private goBack(): void {
    this.goBackAt = this.sndUna;
    this.sndNxt = this.sndUna;
    this.timing = undefined;
  }

  private rttSample(r: number, tNs: number, io: TcpIo): void {
    io.events.push({ kind: 'tcp-rtt', flow: this.flow, rttNs: r, tNs });
    if (this.srttNs === undefined) {
      this.srttNs = r;
      this.rttvarNs = r / 2;
    } else {
      this.rttvarNs = 0.75 * this.rttvarNs + 0.25 * Math.abs(this.srttNs - r);
      this.srttNs = 0.875 * this.srttNs + 0.125 * r;
    }
    this.rtoNs = this.computeRto();
  }

  private computeRto(): number {
    if (this.srttNs === undefined) return this.timers.initialRtoNs;
    return Math.min(Math.max(this.srttNs + 4 * this.rttvarNs, this.timers.minRtoNs), this.timers.maxRtoNs);
  }

  private sendAt(off: number, tNs: number, io: TcpIo, dataLen?: number): void {
    const fin = off >= this.totalBytes;
    const len = fin ? 0 : (dataLen ?? this.segLen(off));
    const end = off + (fin ? 1 : len);
    let flags = TCP_ACK;
    if (fin) flags |= TCP_FIN;
    else if (end === this.totalBytes) flags |= TCP_PSH;
    io.segments.push({
      srcPort: this.localPort, dstPort: this.remotePort,
      seq: this.seqOf(off), ack: seqAdd(this.irs, 1), flags, window: TCP_WINDOW,
      payload: fin ? Buffer.alloc(0) : this.pattern.bytes(off, len),
    });
    this.s.segmentsSent++;
    if (off < this.sndMax) {
      this.s.retransmissions++;
      this.s.bytesRetransmitted += len;
      if (this.timing && off < this.timing.end) this.timing = undefined; // Karn's rule
    } else {
      this.s.bytesSent += len;
      if (!this.timing) this.timing = { end, sentNs: tNs };
    }
    if (end > this.sndMax) this.sndMax = end;
    if (this.rtoDeadline === undefined) this.rtoDeadline = tNs + this.rtoNs;
  }

  private sendSyn(io: TcpIo): void {
    io.segments.push({
      srcPort: this.localPort, dstPort: this.remotePort,
      seq: this.iss, ack: 0, flags: TCP_SYN, window: TCP_WINDOW, payload: Buffer.alloc(0), mss: this.mss,
    });
  }

  private sendAck(io: TcpIo): void {
    io.segments.push({
      srcPort: this.localPort, dstPort: this.remotePort,
      seq: this.seqOf(this.sndNxt), ack: seqAdd(this.irs, 1), flags: TCP_ACK, window: TCP_WINDOW, payload: Buffer.alloc(0),
    });
  }

  private fail(reason: 'reset' | 'timeout', tNs: number, io: TcpIo): void {
    this.state = 'failed';
    this.rtoDeadline = undefined;
    io.events.push({ kind: 'tcp-failed', flow: this.flow, reason, tNs });
  }

  private window(): number {
    // RFC 3042 limited transmit: the first two duplicate ACKs each let one more segment out,
    // so that a small window still collects the three duplicate ACKs of a fast retransmit.
    const limited = this.inRecovery ? 0 : Math.min(this.dupAcks, 2) * this.mss;
    return Math.min(this.cwnd + limited, this.rwnd);
  }
  private segLen(off: number): number { return Math.min(this.mss, this.totalBytes - off); }

  /**
   * Payload bytes of the segment to send at `off` now, 0 when none may go. Without TSO: one
   * MSS (or the tail) if the window takes it. With TSO: as many whole MSS as the window and
   * gsoMax allow (or the whole tail), and — as Linux's tcp_tso_should_defer — while data is
   * in flight, a chunk smaller than a full segment and than a third of the window waits for
   * the next ACK, so that segments stay large instead of following each ACK's opening.
   */
  private nextLen(off: number): number {
    const left = this.totalBytes - off;
    const avail = this.sndUna + this.window() - off;
    if (this.gsoMax === undefined || this.gsoMax <= this.mss) {
      const len = this.segLen(off);
      return len <= avail ? len : 0;
    }
    // whole MSS, and never more frames than a device cuts one segment into
    const maxSeg = Math.max(this.mss, Math.floor(Math.min(this.gsoMax, this.mss * TSO_MAX_SEGMENTS) / this.mss) * this.mss);
    let len = Math.min(left, maxSeg, avail);
    if (len < left) len = Math.floor(len / this.mss) * this.mss; // whole MSS, except the stream's tail
    if (len <= 0) return 0;
    const inFlight = off > this.sndUna;
    if (inFlight && len < left && len < Math.min(maxSeg, Math.floor(this.window() / 3))) return 0;
    return len;
  }
  private seqOf(off: number): number { return seqAdd(this.iss, 1 + off); }
}

/** RFC 5681 3.1: the initial congestion window for a given MSS. */
function initialWindow(mss: number): number {
  return mss > 2190 ? 2 * mss : mss > 1095 ? 3 * mss : 4 * mss;
}
