import type { TcpSegment } from '@vnetlab/frames';
import type { StackEvent } from './stack_output.js';

/** What a TCP endpoint produces in one step; the stack wraps the segments into frames. */
export interface TcpIo { segments: TcpSegment[]; events: StackEvent[] }

/** The receive window every endpoint advertises: fixed, 64 KiB (no window scaling). */
export const TCP_WINDOW = 0xffff;

export interface TcpTimerOptions {
  initialRtoNs: number;  // RFC 6298 says 1 s; the lab uses Linux's 200 ms (TCP_RTO_MIN)
  minRtoNs: number;
  maxRtoNs: number;
  maxRetries: number;    // consecutive timeouts before the flow is given up
  delayedAckNs: number;  // receiver's delayed-ACK timer (Linux: 40 ms)
}

export const DEFAULT_TCP_TIMERS: TcpTimerOptions = {
  initialRtoNs: 200e6,
  minRtoNs: 200e6,
  maxRtoNs: 60e9,
  maxRetries: 12,
  delayedAckNs: 40e6,
};
