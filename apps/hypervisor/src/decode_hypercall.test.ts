// An undecodable message on a hypercall stream is answered, and the stream goes on. Found by
// the lab fuzzer: grpc-js's own refusal of such a message left the stream open — the caller
// waiting for its deadline — when the caller had not closed its side, as a domain never does.
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { hypercall } from '@vnetlab/proto';
import { decodeHypercall } from './hypercalls.js';

describe('decodeHypercall', () => {
  it('decodes a hypercall, and turns bytes that are not one into an UndecodedHypercall', () => {
    const req = hypercall.HypercallRequest.encode({ seq: 5, caller: 1, tNs: 0, pcpu: 'cpu0', op: { $case: 'evtchnSend', value: { port: 3 } } }).finish();
    expect(decodeHypercall(Buffer.from(req))).toMatchObject({ seq: 5, caller: 1, op: { $case: 'evtchnSend', value: { port: 3 } } });
    expect(decodeHypercall(Buffer.from([0xff, 0xff, 0xff]))).toHaveProperty('undecoded');
  });

  it('as the stream\'s deserializer, lets the handler answer garbage on a stream the caller keeps open', async () => {
    const server = new grpc.Server();
    const impl: hypercall.HypervisorServer = {
      hypercalls(call) {
        call.on('data', (req: hypercall.HypercallRequest) => {
          const bad = 'undecoded' in req;
          call.write({ seq: bad ? 0 : req.seq, status: bad ? -1 : 0, cycles: 0, statuses: [], mfn: 0, handle: 0, port: 0, error: bad ? 'undecodable hypercall' : '', target: undefined, charges: [], mfns: [], handles: [], tail: 0, accepted: 0, completed: [], coalesced: false, boots: 0 });
        });
        call.on('end', () => call.end());
      },
      createDomain: (_c, cb) => cb({ code: grpc.status.UNIMPLEMENTED }),
      getDomain: (_c, cb) => cb({ code: grpc.status.UNIMPLEMENTED }),
      listDomains: (_c, cb) => cb({ code: grpc.status.UNIMPLEMENTED }),
    };
    server.addService({ ...hypercall.HypervisorService, hypercalls: { ...hypercall.HypervisorService.hypercalls, requestDeserialize: decodeHypercall as (b: Buffer) => hypercall.HypercallRequest } }, impl);
    const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
    const id = (b: Buffer) => b;
    const Raw = grpc.makeGenericClientConstructor({ call: { ...hypercall.HypervisorService.hypercalls, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id } } as unknown as grpc.ServiceDefinition, 'Raw');
    const client = new Raw(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as { call(md: grpc.Metadata, o: grpc.CallOptions): grpc.ClientDuplexStream<Buffer, Buffer> };
    try {
      const stream = client.call(new grpc.Metadata(), { deadline: Date.now() + 5000 });
      const answers: hypercall.HypercallResponse[] = [];
      stream.on('data', (b: Buffer) => answers.push(hypercall.HypercallResponse.decode(b)));
      stream.on('error', () => undefined);
      const ok = Buffer.from(hypercall.HypercallRequest.encode({ seq: 7, caller: 0, tNs: 0, pcpu: 'cpu0', op: undefined }).finish());
      stream.write(ok);
      stream.write(ok);
      stream.write(Buffer.from([0xff, 0xff, 0xff]));
      stream.write(ok);
      // the caller keeps its side open, as a domain does
      for (let i = 0; i < 100 && answers.length < 4; i++) await new Promise((r) => setTimeout(r, 20));
      expect(answers.map((a) => [a.seq, a.status])).toEqual([[7, 0], [7, 0], [0, -1], [7, 0]]);
      stream.cancel();
    } finally {
      (client as unknown as grpc.Client).close();
      server.forceShutdown();
    }
  });
});
