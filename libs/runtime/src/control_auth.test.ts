// A service's control plane takes only calls carrying its own control token: real gRPC
// server and clients, the token in the metadata as the lab's callers send it.
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { control, hypercall } from '@vnetlab/proto';
import { controlClientOptions, CONTROL_TOKEN_HEADER } from './control_auth.js';
import { DOMAIN_TOKEN_HEADER } from './hypercall_client.js';
import { createLogger } from './logger.js';
import { startService, type GrpcAccess, type Service } from './service.js';
import { parseServiceArgs } from './service_args.js';
import { grpcClient, unary } from './stream_rpc_client.js';
import { testConfig } from './test_kit.js';

const TOKEN = 'a'.repeat(32);
const logged: string[] = [];
const log = createLogger({ service: 'test', write: (line) => void logged.push(line) });

const guestImpl: control.GuestServer = {
  ping: (call, cb) => cb(null, { replies: [], sent: call.request.count, received: call.request.count }),
  bulkSend: (_call, cb) => cb(null, { flow: 'f', bytesSent: 0, bytesAcked: 0, startNs: 0, endNs: 0 }),
  flowStats: (_call, cb) => cb(null, { flows: [] }),
};

// A hypervisor's shape: a duplex stream beside unary methods.
const info = (domid: number): hypercall.DomainInfo => ({ domid, name: `d${domid}`, p2m: [], grantFrames: [], memoryFrames: 0, memoryPath: '', unmappedFrames: [] });
const hvImpl: hypercall.HypervisorServer = {
  hypercalls(call) {
    call.on('data', (r: hypercall.HypercallRequest) => call.write(hypercall.HypercallResponse.fromPartial({ seq: r.seq })));
    call.on('end', () => call.end());
  },
  createDomain: (call, cb) => cb(null, info(7)),
  getDomain: (call, cb) => cb(null, info(call.request.domid)),
  listDomains: (_call, cb) => cb(null, { domains: [info(0)] }),
};

async function withService(token: string | undefined, fn: (s: Service) => Promise<void>, access: GrpcAccess = {}): Promise<void> {
  const s = await startService({ config: testConfig('nats://127.0.0.1:1', token ? { controlToken: token } : {}), connectNats: false, handleSignals: false, processMetrics: false, log });
  s.addGrpc(control.GuestService, guestImpl);
  s.addGrpc(hypercall.HypervisorService, hvImpl, access);
  try {
    await s.listen();
    s.ready();
    await fn(s);
  } finally {
    await s.close();
  }
}

async function refusals(s: Service): Promise<number> {
  const text = await s.metrics.text();
  const m = text.match(/^vnetlab_bad_messages_total\{reason="unauthenticated"[^}]*\} (\d+)$/m);
  return m ? Number(m[1]) : 0;
}

const status = (p: Promise<unknown>) => p.then(() => 'OK', (e: grpc.ServiceError) => grpc.status[e.code]);
const ping = (c: control.GuestClient, md = new grpc.Metadata()) => unary<control.PingResponse>((cb) => c.ping({ dst: 'x', count: 2, size: 1, intervalNs: 0, atNs: 0 }, md, cb));
const health = (c: control.AdminClient) => unary<control.HealthResponse>((cb) => c.health({}, cb));
const md = (key: string, value: string) => {
  const m = new grpc.Metadata();
  m.set(key, value);
  return m;
};

/** Opens a hypercall stream and sends one request: its first response, or its error status. */
function oneHypercall(c: hypercall.HypervisorClient, meta = new grpc.Metadata()): Promise<string> {
  return new Promise((resolve) => {
    const call = c.hypercalls(meta);
    call.on('data', (r: hypercall.HypercallResponse) => {
      resolve(`seq ${r.seq}`);
      call.end();
    });
    call.on('error', (e: grpc.ServiceError) => resolve(grpc.status[e.code]!));
    call.write(hypercall.HypercallRequest.fromPartial({ seq: 42, caller: 1, pcpu: 'cpu0', op: { $case: 'evtchnSend', value: { port: 1 } } }));
  });
}

describe('control token', () => {
  it('refuses every control-plane call without the service\'s token (UNAUTHENTICATED, counted, logged) and serves the right one', async () => {
    await withService(TOKEN, async (s) => {
      const bare = grpcClient(control.GuestClient, s.grpcAddress!);
      const wrong = grpcClient(control.GuestClient, s.grpcAddress!, controlClientOptions('b'.repeat(32)));
      const short = grpcClient(control.GuestClient, s.grpcAddress!, controlClientOptions('a'));
      const right = grpcClient(control.GuestClient, s.grpcAddress!, controlClientOptions(TOKEN));
      const adminBare = grpcClient(control.AdminClient, s.grpcAddress!);
      const adminRight = grpcClient(control.AdminClient, s.grpcAddress!, controlClientOptions(TOKEN));
      const hvBare = grpcClient(hypercall.HypervisorClient, s.grpcAddress!);
      try {
        expect(await status(ping(bare))).toBe('UNAUTHENTICATED');
        expect(await status(ping(wrong))).toBe('UNAUTHENTICATED');
        expect(await status(ping(short))).toBe('UNAUTHENTICATED');
        expect(await status(health(adminBare))).toBe('UNAUTHENTICATED');
        // a stream is refused before its handler sees a message
        expect(await oneHypercall(hvBare)).toBe('UNAUTHENTICATED');
        expect(await refusals(s)).toBe(5);
        const err = await ping(bare).catch((e: grpc.ServiceError) => e);
        expect((err as grpc.ServiceError).details).toMatch(/^no control token: test-h1's control plane takes only its own control token/);
        expect(logged.some((l) => l.includes('/vnetlab.control.v1.Guest/Ping') && l.includes('unauthenticated'))).toBe(true);
        // the service goes on serving whoever holds its token
        expect((await ping(right)).sent).toBe(2);
        expect((await health(adminRight)).status).toBe('ok');
        expect(await refusals(s)).toBe(6);
      } finally {
        for (const c of [bare, wrong, short, right, adminBare, adminRight, hvBare]) c.close();
      }
    });
  });

  it('leaves self-checked methods to their own check, and lets a method take another credential beside the token', async () => {
    const access: GrpcAccess = {
      selfChecked: ['hypercalls'],
      // a domain may ask about itself only (as the hypervisor lets a guest read its own DomainInfo)
      alsoAccepts: (method, call) => method === 'getDomain' && call.metadata.get(DOMAIN_TOKEN_HEADER)[0] === 'dom5' && (call as grpc.ServerUnaryCall<hypercall.GetDomainRequest, unknown>).request.domid === 5,
    };
    await withService(TOKEN, async (s) => {
      const hv = grpcClient(hypercall.HypervisorClient, s.grpcAddress!);
      const asDom5 = md(DOMAIN_TOKEN_HEADER, 'dom5');
      const get = (domid: number, meta: grpc.Metadata) => status(unary((cb) => hv.getDomain({ domid, name: '' }, meta, cb)));
      try {
        expect(await oneHypercall(hv)).toBe('seq 42');
        expect(await get(5, asDom5)).toBe('OK');
        expect(await get(6, asDom5)).toBe('UNAUTHENTICATED');
        expect(await status(unary((cb) => hv.listDomains({}, asDom5, cb)))).toBe('UNAUTHENTICATED');
        expect(await get(6, md(CONTROL_TOKEN_HEADER, TOKEN))).toBe('OK');
        expect(await refusals(s)).toBe(2);
      } finally {
        hv.close();
      }
    }, access);
  });

  it('guards nothing when the service was given no token', async () => {
    await withService(undefined, async (s) => {
      const c = grpcClient(control.GuestClient, s.grpcAddress!);
      try {
        expect((await ping(c)).sent).toBe(2);
        expect(await refusals(s)).toBe(0);
      } finally {
        c.close();
      }
    });
  });

  it('comes from --control-token or VNETLAB_CONTROL_TOKEN', () => {
    expect(parseServiceArgs(['--control-token', 'abc'], { kind: 'guest' }, {}).controlToken).toBe('abc');
    expect(parseServiceArgs([], { kind: 'guest' }, { VNETLAB_CONTROL_TOKEN: 'def' }).controlToken).toBe('def');
    expect(parseServiceArgs([], { kind: 'guest' }, {}).controlToken).toBeUndefined();
  });
});
