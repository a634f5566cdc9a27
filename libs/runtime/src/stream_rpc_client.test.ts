import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { hypercall } from '@vnetlab/proto';
import { StreamRpcClient, StreamRpcError, grpcClient } from './stream_rpc_client.js';

type Req = hypercall.HypercallRequest;
type Res = hypercall.HypercallResponse;

// A test hypervisor: answers EvtchnSend{port} with port*2, in batches of `batch` requests
// answered in reverse order (so answers overtake each other); port 666 ends the stream,
// port 667 fails it with UNAVAILABLE, port 999 is never answered.
let server: grpc.Server;
let addr: string;
let streamsOpened = 0;
const batch = 8;

function portOf(r: Req): number {
  return r.op?.$case === 'evtchnSend' ? r.op.value.port : -1;
}

beforeAll(async () => {
  server = new grpc.Server();
  const impl: hypercall.HypervisorServer = {
    hypercalls: (call) => {
      streamsOpened++;
      let held: Req[] = [];
      call.on('data', (r: Req) => {
        const port = portOf(r);
        if (port === 666) return call.end();
        if (port === 667) return call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'hypervisor restarting' });
        if (port === 999) return;
        if (port >= 100) {
          call.write({ seq: r.seq, status: 0, cycles: 10, statuses: [], mfn: 0, handle: 0, port: port * 2, error: '', charges: [], mfns: [], handles: [], tail: 0, accepted: 0, completed: [], coalesced: false, boots: 0 });
          return;
        }
        held.push(r);
        if (held.length === batch) {
          for (const h of held.reverse()) {
            call.write({ seq: h.seq, status: 0, cycles: h.caller, statuses: [], mfn: 0, handle: 0, port: portOf(h) * 2, error: '', charges: [], mfns: [], handles: [], tail: 0, accepted: 0, completed: [], coalesced: false, boots: 0 });
          }
          held = [];
        }
      });
      call.on('end', () => call.end());
      call.on('error', () => undefined);
    },
    createDomain: (_c, cb) => cb({ code: grpc.status.UNIMPLEMENTED }),
    getDomain: (_c, cb) => cb({ code: grpc.status.UNIMPLEMENTED }),
    listDomains: (_c, cb) => cb({ code: grpc.status.UNIMPLEMENTED }),
  };
  server.addService(hypercall.HypervisorService, impl);
  const port = await new Promise<number>((res, rej) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))),
  );
  addr = `127.0.0.1:${port}`;
});

afterAll(() => {
  server?.forceShutdown();
});

function send(port: number, caller = 1): Omit<Req, 'seq'> {
  return { caller, tNs: 0, pcpu: 'cpu0', op: { $case: 'evtchnSend', value: { port } } };
}

describe('StreamRpcClient', () => {
  it('correlates many concurrent calls whose answers come back out of order', async () => {
    const client = grpcClient(hypercall.HypervisorClient, addr);
    const rpc = new StreamRpcClient<Req, Res>(() => client.hypercalls());
    try {
      const ports = Array.from({ length: batch * 2 }, (_, i) => i + 1);
      const calls = ports.map((p) => rpc.call(send(p, 100 + p)));
      expect(rpc.inFlight).toBe(ports.length);
      const answers = await Promise.all(calls);
      answers.forEach((a, i) => {
        expect(a.port).toBe(ports[i]! * 2);
        expect(a.cycles).toBe(100 + ports[i]!);
      });
      expect(new Set(answers.map((a) => a.seq)).size).toBe(ports.length);
      expect(rpc.inFlight).toBe(0);
    } finally {
      rpc.close();
      client.close();
    }
  });

  it('rejects every pending call when the stream ends, then reconnects on the next call', async () => {
    const client = grpcClient(hypercall.HypervisorClient, addr);
    const rpc = new StreamRpcClient<Req, Res>(() => client.hypercalls());
    try {
      const opened = streamsOpened;
      const waiting = rpc.call(send(999));
      const killer = rpc.call(send(666));
      await expect(waiting).rejects.toMatchObject({ reason: 'stream_ended' });
      await expect(killer).rejects.toBeInstanceOf(StreamRpcError);
      const again = await rpc.call(send(150));
      expect(again.port).toBe(300);
      expect(streamsOpened).toBe(opened + 2);
    } finally {
      rpc.close();
      client.close();
    }
  });

  it('rejects pending calls with the gRPC error when the server fails the stream', async () => {
    const client = grpcClient(hypercall.HypervisorClient, addr);
    const rpc = new StreamRpcClient<Req, Res>(() => client.hypercalls());
    try {
      const waiting = rpc.call(send(999));
      void rpc.call(send(667)).catch(() => undefined);
      const err = (await waiting.catch((e: unknown) => e)) as StreamRpcError;
      expect(err.reason).toBe('stream_error');
      expect((err.cause as grpc.ServiceError).code).toBe(grpc.status.UNAVAILABLE);
      expect((await rpc.call(send(101))).port).toBe(202);
    } finally {
      rpc.close();
      client.close();
    }
  });

  it('rejects calls after close() and calls left waiting by it', async () => {
    const client = grpcClient(hypercall.HypervisorClient, addr);
    const rpc = new StreamRpcClient<Req, Res>(() => client.hypercalls());
    const waiting = rpc.call(send(999));
    rpc.close();
    await expect(waiting).rejects.toMatchObject({ reason: 'closed' });
    await expect(rpc.call(send(101))).rejects.toMatchObject({ reason: 'closed' });
    client.close();
  });
});
