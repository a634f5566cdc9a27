import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/nats-core';
import { coalesceWrites } from './nats_coalesce.js';
import { startTestNats, type TestNats } from './test_kit.js';

/** Counts the socket writes the client makes. */
function countWrites(nc: NatsConnection): () => number {
  const t = (nc as unknown as { protocol: { transport: { send(b: Uint8Array): void } } }).protocol.transport;
  const send = t.send.bind(t);
  let n = 0;
  t.send = (b) => {
    n++;
    send(b);
  };
  return () => n;
}

/** `n` publishes, one per handler, the handlers chained one after the other as a service runs them. */
async function publishFromHandlers(nc: NatsConnection, subject: string, n: number): Promise<void> {
  let chain = Promise.resolve();
  for (let i = 0; i < n; i++) {
    chain = chain.then(async () => {
      nc.publish(subject, new TextEncoder().encode(String(i)));
      await Promise.resolve(); // the handler goes on after its signal (a hypercall, a ring write)
    });
  }
  await chain;
}

describe('coalesceWrites', () => {
  let nats: TestNats;
  beforeAll(async () => {
    nats = await startTestNats();
  });
  afterAll(async () => {
    await nats.stop();
  });

  it('sends what handlers published in one event-loop turn in one write; an unchanged client needs more', async () => {
    const plain = await connect({ servers: nats.server.url });
    const merged = await connect({ servers: nats.server.url });
    try {
      expect(coalesceWrites(merged)).toBe(true);
      const plainWrites = countWrites(plain);
      const mergedWrites = countWrites(merged);
      await publishFromHandlers(plain, 'coalesce.a', 50);
      await publishFromHandlers(merged, 'coalesce.a', 50);
      await new Promise((res) => setImmediate(res));
      expect(mergedWrites()).toBe(1);
      expect(plainWrites()).toBeGreaterThan(1);
    } finally {
      await plain.close();
      await merged.close();
    }
  });

  it('keeps the order of publishes, requests and replies on the connection, and delivers what was pending at drain', async () => {
    const listener = await connect({ servers: nats.server.url });
    const sender = await connect({ servers: nats.server.url });
    coalesceWrites(sender);
    coalesceWrites(listener);
    const seen: string[] = [];
    listener.subscribe('order.>', {
      callback: (_e, m) => {
        seen.push(`${m.subject}:${new TextDecoder().decode(m.data)}`);
        if (m.reply) m.respond(new TextEncoder().encode(`answer-after-${seen.length}`));
      },
    });
    await listener.flush();
    for (let i = 0; i < 5; i++) sender.publish('order.signal', new TextEncoder().encode(String(i)));
    const answer = sender.request('order.ask', new TextEncoder().encode('q'), { timeout: 5000 });
    sender.publish('order.signal', new TextEncoder().encode('5'));
    // the request's answer comes after the five signals sent before it were seen
    expect(new TextDecoder().decode((await answer).data)).toBe('answer-after-6');
    for (let i = 6; i < 200; i++) sender.publish('order.signal', new TextEncoder().encode(String(i)));
    await sender.drain(); // nothing still waiting for its turn is lost
    await listener.flush();
    await new Promise((res) => setTimeout(res, 100));
    const signals = seen.filter((s) => s.startsWith('order.signal')).map((s) => Number(s.split(':')[1]));
    expect(signals).toEqual(Array.from({ length: 200 }, (_, i) => i));
    expect(seen.indexOf('order.ask:q')).toBe(5);
    await listener.close();
  });

  it('leaves a connection that is not the expected shape alone', () => {
    expect(coalesceWrites({} as NatsConnection)).toBe(false);
  });
});
