// One socket write per event-loop turn, not per message.
//
// The NATS client writes its outbound buffer in a microtask after the first command queued
// into it. A service handles each incoming signal in its own chain of promises, so nearly
// every signal it sends went out in a write of its own: a system call, and a wake-up of
// nats-server, per doorbell or interrupt. Deferring the flush to the end of the turn
// (setImmediate) puts everything a service sent while handling one batch of input into one
// write. Commands still enter the one outbound buffer in the order they were issued
// (publishes, requests, replies, pings alike), so the order per connection is unchanged; a
// signal leaves at most one event-loop turn later in wall time, and modelled time, which
// each signal carries, is not touched.
import type { NatsConnection } from '@nats-io/nats-core';

/** What the client's protocol handler offers (@nats-io/nats-core 3.x). */
interface Protocol {
  outbound: { fill(buf: Uint8Array, ...payloads: Uint8Array[]): void; size(): number };
  pendingLimit: number;
  flushPending(): void;
  sendCommand(cmd: string | Uint8Array, ...payloads: Uint8Array[]): void;
}

function protocolOf(nc: NatsConnection): Protocol | undefined {
  const p = (nc as unknown as { protocol?: Partial<Protocol> }).protocol;
  const ok = p && typeof p.sendCommand === 'function' && typeof p.flushPending === 'function' && typeof p.pendingLimit === 'number' &&
    p.outbound && typeof p.outbound.fill === 'function' && typeof p.outbound.size === 'function';
  return ok ? (p as Protocol) : undefined;
}

/**
 * Makes `nc` write its outbound buffer once per event-loop turn. Returns false, leaving the
 * connection as it was, when the client is not the shape this was written for.
 */
export function coalesceWrites(nc: NatsConnection): boolean {
  const p = protocolOf(nc);
  if (!p) return false;
  const encoder = new TextEncoder();
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    p.flushPending(); // does nothing while disconnected: the client resends the buffer on reconnect
  };
  p.sendCommand = (cmd, ...payloads) => {
    p.outbound.fill(typeof cmd === 'string' ? encoder.encode(cmd) : cmd, ...payloads);
    if (p.outbound.size() >= p.pendingLimit) p.flushPending(); // a big burst goes at once, as before
    else if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
  return true;
}
