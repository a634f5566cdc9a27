// A gRPC error that quotes a huge request still reaches the client. Found by the lab fuzzer: an
// error detail of a few hundred kilobytes does not fit the response headers, and the call hung
// until the client's deadline.
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { control, migration } from '@vnetlab/proto';
import { createLogger } from './logger.js';
import { MAX_ERROR_DETAILS, startService } from './service.js';
import { grpcClient } from './stream_rpc_client.js';
import { testConfig } from './test_kit.js';

const quiet = createLogger({ service: 'test', write: () => undefined });

describe('gRPC error details', () => {
  it('are cut to MAX_ERROR_DETAILS characters, so that an error quoting a huge request is answered', async () => {
    const s = await startService({ config: testConfig('nats://127.0.0.1:1'), connectNats: false, handleSignals: false, processMetrics: false, log: quiet });
    const impl: control.GuestServer = {
      ping: (call, cb) => cb({ code: grpc.status.NOT_FOUND, details: `no guest "${call.request.dst}"` } as grpc.ServiceError, null),
      bulkSend: (_call, cb) => cb(null, { flow: 'f', bytesSent: 0, bytesAcked: 0, startNs: 0, endNs: 0 }),
      flowStats: (_call, cb) => cb(null, { flows: [] }),
    };
    s.addGrpc(control.GuestService, impl);
    await s.listen();
    const c = grpcClient(control.GuestClient, s.grpcAddress!);
    const ping = (dst: string) =>
      new Promise<grpc.ServiceError>((resolve, reject) =>
        c.ping({ dst, count: 1, size: 1, intervalNs: 0, atNs: 0 }, new grpc.Metadata(), { deadline: Date.now() + 10_000 }, (e) => (e ? resolve(e) : reject(new Error('no error')))),
      );
    try {
      const huge = await ping('x'.repeat(300_000));
      expect(grpc.status[huge.code]).toBe('NOT_FOUND');
      expect(huge.details.length).toBeLessThan(MAX_ERROR_DETAILS + 100);
      expect(huge.details).toMatch(/^no guest "x+…\(300011 characters\)$/);
      const small = await ping('vm-9');
      expect(small.details).toBe('no guest "vm-9"');
      // unaffected methods still answer
      const ok = await new Promise<control.FlowStatsResponse>((res, rej) => c.flowStats({}, (e, r) => (e ? rej(e) : res(r))));
      expect(ok.flows).toEqual([]);
    } finally {
      c.close();
      await s.close();
    }
  });

  it('are cut on a streaming method too, where the error ends the stream', async () => {
    const s = await startService({ config: testConfig('nats://127.0.0.1:1'), connectNats: false, handleSignals: false, processMetrics: false, log: quiet });
    const impl: migration.MigrationsServer = {
      migrate: (call) => {
        call.write({ progress: 'starting', report: undefined });
        call.emit('error', { code: grpc.status.FAILED_PRECONDITION, details: `no guest "${call.request.guest}"` });
      },
    };
    s.addGrpc(migration.MigrationsService, impl);
    await s.listen();
    const c = grpcClient(migration.MigrationsClient, s.grpcAddress!);
    try {
      const err = await new Promise<grpc.ServiceError>((resolve, reject) => {
        const call = c.migrate({ guest: 'x'.repeat(300_000), to: 'h', bandwidthBps: 0, maxRounds: 0 }, new grpc.Metadata(), { deadline: Date.now() + 10_000 });
        call.on('data', () => undefined);
        call.on('error', resolve);
        call.on('end', () => reject(new Error('no error')));
      });
      expect(grpc.status[err.code]).toBe('FAILED_PRECONDITION');
      expect(err.details.length).toBeLessThan(MAX_ERROR_DETAILS + 100);
    } finally {
      c.close();
      await s.close();
    }
  });
});
