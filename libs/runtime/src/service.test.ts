import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { control, netif, XENSTORE_BUCKET, xenstoreKey, subjects } from '@vnetlab/proto';
import { startService, BadMessageError, GRPC_MAX_REQUEST_BYTES, GRPC_READ_LIMIT, type Service } from './service.js';
import { grpcClient, unary } from './stream_rpc_client.js';
import { startTestNats, testConfig, type TestNats } from './test_kit.js';
import { createLogger } from './logger.js';

/** Protobuf's base-128 varint. */
function varint(n: number): number[] {
  const out: number[] = [];
  for (; n >= 0x80; n = Math.floor(n / 128)) out.push((n % 128) | 0x80);
  out.push(n);
  return out;
}

let nats: TestNats;
const quiet = createLogger({ service: 'test', write: () => undefined });

beforeAll(async () => {
  nats = await startTestNats();
});
afterAll(async () => {
  await nats?.stop();
});

async function withService(fn: (s: Service) => Promise<void>, name = 'test-h1'): Promise<void> {
  const s = await startService({ config: testConfig(nats.server.url, { name }), handleSignals: false, processMetrics: false, log: quiet });
  try {
    await fn(s);
  } finally {
    await s.close();
  }
}

async function get(s: Service, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${s.httpPort}${path}`);
  return { status: res.status, body: await res.text() };
}

// Resolves once `n` values have arrived through `push`.
function collector<T>(n: number): { push(v: T): void; done: Promise<T[]> } {
  const got: T[] = [];
  let resolve!: (v: T[]) => void;
  const done = new Promise<T[]>((r) => (resolve = r));
  return {
    push: (v) => {
      got.push(v);
      if (got.length === n) resolve(got);
    },
    done,
  };
}

function metricValue(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{')) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.split(' ').pop());
  }
  return undefined;
}

describe('service kit against a real nats-server', () => {
  it('/healthz answers 503 before ready() and 200 with the service after', async () => {
    await withService(async (s) => {
      const before = await get(s, '/healthz');
      expect(before.status).toBe(503);
      expect(JSON.parse(before.body).status).toBe('starting');
      s.ready();
      const after = await get(s, '/healthz');
      expect(after.status).toBe(200);
      expect(JSON.parse(after.body)).toMatchObject({ status: 'ok', service: 'test-h1', kind: 'test', host: 'h1' });
    });
  });

  it('a subscription survives a malformed payload, counts it in /metrics and goes on serving', async () => {
    await withService(async (s) => {
      const got = collector<netif.EventBatch>(1);
      const subject = subjects.evtchn('h1', 3);
      s.subscribe(subject, (b) => netif.EventBatch.decode(b), (batch) => got.push(batch));
      // field 1, length 5, but only one byte follows: cannot decode
      s.publish(subject, Uint8Array.from([0x0a, 0x05, 0x01]));
      const good: netif.EventBatch = { events: [{ domid: 3, port: 7, tNs: 1500 }] };
      s.publish(subject, netif.EventBatch.encode(good).finish());
      expect(await got.done).toEqual([good]);
      const m = await get(s, '/metrics');
      expect(metricValue(m.body, 'vnetlab_bad_messages_total', { reason: 'decode', service: 'test-h1', host: 'h1' })).toBe(1);
    });
  });

  it('a handler that throws is counted under its reason and the next message is still handled', async () => {
    await withService(async (s) => {
      const got = collector<number>(1);
      s.subscribe('t.handler', (b) => netif.EventNotify.decode(b), (ev) => {
        if (ev.port === 0) throw new Error('port 0 is never bound');
        if (ev.port === 1) throw new BadMessageError('unbound_port', 'port 1 is not bound');
        got.push(ev.port);
      });
      for (const port of [0, 1, 9]) s.publish('t.handler', netif.EventNotify.encode({ domid: 1, port, tNs: 0 }).finish());
      expect(await got.done).toEqual([9]);
      const text = (await get(s, '/metrics')).body;
      expect(metricValue(text, 'vnetlab_bad_messages_total', { reason: 'handler' })).toBe(1);
      expect(metricValue(text, 'vnetlab_bad_messages_total', { reason: 'unbound_port' })).toBe(1);
    });
  });

  it('handles the messages of one subscription one at a time, in order', async () => {
    await withService(async (s) => {
      const got = collector<number>(5);
      let busy = false;
      let overlapped = false;
      s.subscribe('t.order', (b) => netif.EventNotify.decode(b), async (ev) => {
        if (busy) overlapped = true;
        busy = true;
        await new Promise((r) => setTimeout(r, 5 - ev.port));
        busy = false;
        got.push(ev.port);
      });
      for (let port = 0; port < 5; port++) s.publish('t.order', netif.EventNotify.encode({ domid: 1, port, tNs: 0 }).finish());
      expect(await got.done).toEqual([0, 1, 2, 3, 4]);
      expect(overlapped).toBe(false);
    });
  });

  it('/metrics exposes vnetlab_modelled_time_seconds, which never goes back', async () => {
    await withService(async (s) => {
      s.metrics.setModelledTime(2_500_000_000);
      s.metrics.setModelledTime(1_000_000_000);
      const text = (await get(s, '/metrics')).body;
      expect(text).toContain('# TYPE vnetlab_modelled_time_seconds gauge');
      expect(metricValue(text, 'vnetlab_modelled_time_seconds', { service: 'test-h1' })).toBe(2.5);
      const c = s.metrics.counter('vnetlab_frames_total', 'frames', ['vif']);
      expect(s.metrics.counter('vnetlab_frames_total', 'frames', ['vif'])).toBe(c);
      expect(() => s.metrics.gauge('vnetlab_frames_total', 'frames')).toThrow(/already registered/);
    });
  });

  it('serves the Admin service over gRPC with the ledger the app supplies', async () => {
    await withService(async (s) => {
      s.setLedgerSource(() => [{ pcpu: 'cpu0', domain: 'dom0', primitive: 'grant_copy_op', cycles: 1234.5, ops: 3 }]);
      await s.listen();
      s.ready();
      const client = grpcClient(control.AdminClient, s.grpcAddress!);
      try {
        const health = await unary<control.HealthResponse>((cb) => client.health({}, cb));
        expect(health).toMatchObject({ status: 'ok', service: 'test-h1', host: 'h1' });
        const ledger = await unary<control.LedgerResponse>((cb) => client.ledger({}, cb));
        expect(ledger.rows).toEqual([{ host: 'h1', pcpu: 'cpu0', domain: 'dom0', primitive: 'grant_copy_op', cycles: 1234.5, ops: 3 }]);
      } finally {
        client.close();
      }
    });
  });

  it('a gRPC request that does not decode is counted (grpc_malformed), one over 4 MiB too (grpc_oversized), each logged with its method and answered INTERNAL, and the server goes on serving', async () => {
    const lines: string[] = [];
    const s = await startService({ config: testConfig(nats.server.url, { name: 'test-h1' }), handleSignals: false, processMetrics: false, log: createLogger({ service: 'test', write: (l) => lines.push(l) }) });
    const path = '/vnetlab.control.v1.Admin/Health';
    const identity = (b: Buffer) => b;
    // bytes as they are: the client's own encoder would never send these
    const Raw = grpc.makeGenericClientConstructor({ health: { path, requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity } }, 'Raw');
    try {
      await s.listen();
      s.ready();
      const raw = new Raw(s.grpcAddress!, grpc.credentials.createInsecure()) as unknown as { health: (b: Buffer, cb: (e: grpc.ServiceError | null, r?: Buffer) => void) => void; close(): void };
      const good = grpcClient(control.AdminClient, s.grpcAddress!);
      try {
        const send = (b: number[]) => new Promise<grpc.ServiceError | null>((res) => raw.health(Buffer.from(b), (e) => res(e)));
        // field 1 with wire type 7 (no such type); a length-delimited field 1 of 5 bytes with one byte
        const answers = [await send([0x0f]), await send([0x0a, 0x05, 0x01])];
        expect(answers.map((e) => e?.code)).toEqual([grpc.status.INTERNAL, grpc.status.INTERNAL]);
        // an empty request decodes (every field at its default): not counted
        expect(await send([])).toBeNull();
        // a request over the 4 MiB limit (a valid message padded with an unknown field 2047), and one that grpc-js itself refuses unread
        const pad = (n: number) => Buffer.concat([Buffer.from([0xfa, 0x7f]), Buffer.from(varint(n)), Buffer.alloc(n)]);
        const big = await new Promise<grpc.ServiceError | null>((res) => raw.health(pad(GRPC_MAX_REQUEST_BYTES), (e) => res(e)));
        expect(big?.code).toBe(grpc.status.INTERNAL);
        const huge = await new Promise<grpc.ServiceError | null>((res) => raw.health(pad(GRPC_READ_LIMIT), (e) => res(e)));
        expect(huge?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
        const text = (await get(s, '/metrics')).body;
        expect(metricValue(text, 'vnetlab_bad_messages_total', { reason: 'grpc_malformed' })).toBe(2);
        expect(metricValue(text, 'vnetlab_bad_messages_total', { reason: 'grpc_oversized' })).toBe(1);
        const logged = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.reason === 'grpc_malformed');
        expect(lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.reason === 'grpc_oversized')).toMatchObject({ method: path, bytes: pad(GRPC_MAX_REQUEST_BYTES).length });
        expect(logged).toHaveLength(2);
        expect(logged[0]).toMatchObject({ msg: 'bad message', method: path, bytes: 1 });
        const health = await unary<control.HealthResponse>((cb) => good.health({}, cb));
        expect(health.status).toBe('ok');
      } finally {
        raw.close();
        good.close();
      }
    } finally {
      await s.close();
    }
  });

  it('a gRPC request its handler refuses as INVALID_ARGUMENT is counted (grpc_invalid_argument); other refusals are not', async () => {
    await withService(async (s) => {
      s.addGrpc(control.GuestService, {
        ping: (call, cb) => (call.request.count > 65535 ? cb({ code: grpc.status.INVALID_ARGUMENT, details: `count ${call.request.count} out of range` }) : cb({ code: grpc.status.NOT_FOUND, details: `no route to ${call.request.dst}` })),
        bulkSend: (_c, cb) => cb({ code: grpc.status.UNIMPLEMENTED }),
        flowStats: (_c, cb) => cb({ code: grpc.status.UNIMPLEMENTED }),
      } satisfies control.GuestServer);
      await s.listen();
      s.ready();
      const c = grpcClient(control.GuestClient, s.grpcAddress!);
      try {
        const ping = (count: number) => unary((cb) => c.ping(control.GuestPingRequest.fromPartial({ dst: '10.0.0.9', count }), cb));
        await expect(ping(1 << 20)).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
        await expect(ping(1)).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
      } finally {
        c.close();
      }
      const text = (await get(s, '/metrics')).body;
      expect(metricValue(text, 'vnetlab_bad_messages_total', { reason: 'grpc_invalid_argument' })).toBe(1);
      expect(metricValue(text, 'vnetlab_bad_messages_total', { reason: 'grpc_malformed' })).toBeUndefined();
    });
  });

  it('/metrics exports the ledger as vnetlab_cpu_cycles_total, read afresh at every scrape', async () => {
    await withService(async (s) => {
      let cycles = 100;
      s.setLedgerSource(() => [
        { pcpu: 'cpu1', domain: 'xen', primitive: 'hypercall', cycles, ops: 1 },
        { pcpu: 'cpu1', domain: 'vm1', primitive: 'byte_copy', cycles: 0, ops: 0 },
      ]);
      const first = (await get(s, '/metrics')).body;
      expect(first).toContain('vnetlab_cpu_cycles_total{pcpu="cpu1",domain="xen",primitive="hypercall",service="test-h1",host="h1"} 100');
      expect(first).not.toContain('primitive="byte_copy"');
      cycles = 250;
      expect((await get(s, '/metrics')).body).toContain('primitive="hypercall",service="test-h1",host="h1"} 250');
    });
  });

  it('xenstore KV: a watch sees the value another service puts', async () => {
    await withService(async (front) => {
      await withService(async (back) => {
        const key = xenstoreKey('h1', '/local/domain/1/device/vif/0/tx-ring-ref');
        const backKv = await back.kv(XENSTORE_BUCKET);
        const watch = await backKv.watch({ key: xenstoreKey('h1', '/local/domain/1/device/vif/0/>') });
        const seen = (async () => {
          for await (const e of watch) {
            if (e.key === key && e.operation === 'PUT') return e.string();
          }
          return undefined;
        })();
        const frontKv = await front.kv(XENSTORE_BUCKET);
        await frontKv.put(key, '8');
        expect(await seen).toBe('8');
        watch.stop();
        expect((await frontKv.get(key))?.string()).toBe('8');
      }, 'back');
    }, 'front');
  });

  it('after close() the NATS connection is closed and HTTP no longer answers', async () => {
    const s = await startService({ config: testConfig(nats.server.url), handleSignals: false, processMetrics: false, log: quiet });
    const hookRan: string[] = [];
    s.onShutdown(() => {
      hookRan.push('first');
    });
    s.onShutdown(() => {
      hookRan.push('second');
    });
    const port = s.httpPort;
    await s.close();
    await s.close();
    expect(hookRan).toEqual(['second', 'first']);
    expect(s.nc.isClosed()).toBe(true);
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
  });
});
