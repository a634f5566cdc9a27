// The operator's credential. The operator API (Operator, Inspect, Protection, Faults) can
// switch a host's protection off, fail NICs and drive any guest: a guest process on the same
// machine must not reach it. `vnetlab up` makes a random token, which only the lab file
// (mode 0600, the operator's) holds; the CLI sends it as gRPC metadata on every call, and
// the controller refuses a call without it (UNAUTHENTICATED, counted as a bad message).
import { randomBytes, timingSafeEqual } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';

export const OPERATOR_TOKEN_HEADER = 'x-vnetlab-operator-token';

export function newOperatorToken(): string {
  return randomBytes(24).toString('hex');
}

/** Tokens of the labs this process has read, by operator address (readLab remembers them). */
const tokens = new Map<string, string>();

export function rememberOperatorToken(addr: string, token: string | undefined): void {
  if (addr && token) tokens.set(addr, token);
}

/** Client options that put the lab's token on every call to `addr`. */
export function operatorClientOptions(addr: string): Partial<grpc.ClientOptions> {
  const token = tokens.get(addr);
  if (!token) return {};
  const withToken: grpc.Interceptor = (options, next) =>
    new grpc.InterceptingCall(next(options), {
      start(metadata, listener, start) {
        metadata.set(OPERATOR_TOKEN_HEADER, token);
        start(metadata, listener);
      },
    });
  return { interceptors: [withToken] };
}

function matches(presented: unknown, token: string): boolean {
  if (typeof presented !== 'string' || presented.length !== token.length) return false;
  return timingSafeEqual(Buffer.from(presented), Buffer.from(token));
}

/**
 * The service's handlers behind the token check: a call without the token, or with another,
 * is answered UNAUTHENTICATED and reported to `refused` (the service counts and logs it).
 */
export function requireOperatorToken<I extends grpc.UntypedServiceImplementation>(
  definition: grpc.ServiceDefinition<I>,
  impl: I,
  token: string,
  refused: (method: string, why: string) => void,
): I {
  const out: grpc.UntypedServiceImplementation = { ...impl };
  for (const [name, method] of Object.entries(definition)) {
    const handler = impl[name];
    if (typeof handler !== 'function') continue;
    out[name] = ((call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>, cb?: grpc.sendUnaryData<unknown>) => {
      const presented = call.metadata.get(OPERATOR_TOKEN_HEADER)[0];
      if (!matches(presented, token)) {
        const why = presented === undefined ? 'no operator token' : 'wrong operator token';
        refused(method.path, why);
        const err = { code: grpc.status.UNAUTHENTICATED, details: `${why}: the operator API takes the token of the lab file (vnetlab up writes it)` };
        if (cb) cb(err as grpc.ServiceError, null);
        else (call as grpc.ServerWritableStream<unknown, unknown>).emit('error', err);
        return;
      }
      return (handler as (c: unknown, cb?: unknown) => void)(call, cb);
    }) as grpc.UntypedHandleCall;
  }
  return out as I;
}
