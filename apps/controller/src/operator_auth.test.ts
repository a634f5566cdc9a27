// The operator API's token check, on a real gRPC server and client.
import * as grpc from '@grpc/grpc-js';
import { protection } from '@vnetlab/proto';
import { grpcClient, unary } from '@vnetlab/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newOperatorToken, operatorClientOptions, rememberOperatorToken, requireOperatorToken, OPERATOR_TOKEN_HEADER } from './operator_auth.js';

describe('the operator token', () => {
  const token = newOperatorToken();
  const refused: string[] = [];
  const switched: boolean[] = [];
  const server = new grpc.Server();
  let addr = '';

  beforeAll(async () => {
    const impl: protection.ProtectionServer = {
      attack: (_c, cb) => cb({ code: grpc.status.UNIMPLEMENTED } as grpc.ServiceError, null),
      setProtection: (call, cb) => {
        switched.push(call.request.on);
        cb(null, { on: call.request.on });
      },
    };
    server.addService(protection.ProtectionService, requireOperatorToken(protection.ProtectionService, impl, token, (method, why) => refused.push(`${method}: ${why}`)));
    const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
    addr = `127.0.0.1:${port}`;
  });
  afterAll(() => server.forceShutdown());

  const call = (c: protection.ProtectionClient, md = new grpc.Metadata()) => unary<protection.SetProtectionResponse>((cb) => c.setProtection({ host: 'h', on: false }, md, cb));

  it('refuses a call without it or with another, counts why, and does nothing', async () => {
    const c = grpcClient(protection.ProtectionClient, addr);
    await expect(call(c)).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    const md = new grpc.Metadata();
    md.set(OPERATOR_TOKEN_HEADER, newOperatorToken());
    await expect(call(c, md)).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    c.close();
    expect(refused).toEqual(['/vnetlab.protection.v1.Protection/SetProtection: no operator token', '/vnetlab.protection.v1.Protection/SetProtection: wrong operator token']);
    expect(switched).toEqual([]);
  });

  it('lets a client that read the lab file through: the token rides on every call', async () => {
    rememberOperatorToken(addr, token);
    const c = grpcClient(protection.ProtectionClient, addr, operatorClientOptions(addr));
    expect(await call(c)).toEqual({ on: false });
    c.close();
    expect(switched).toEqual([false]);
  });
});
