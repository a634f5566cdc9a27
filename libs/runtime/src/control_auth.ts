// Credentials on gRPC calls. Every service's control plane (Admin, a guest's Guest and
// GuestAttack, a driver domain's VswitchControl, a hypervisor's domain management…) takes
// only calls carrying that service's own control token, which the toolstack (the controller)
// draws for it and hands to it alone: a guest process holding its own token cannot drive
// another guest or stop a service. What a domain must reach itself (its hypercall stream)
// is checked by the domain's own credential instead.
import { timingSafeEqual } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';

/** The gRPC metadata key a call to a service's control plane carries that service's token in. */
export const CONTROL_TOKEN_HEADER = 'x-vnetlab-control-token';

/**
 * Where a call that has its service call another service's control plane carries that
 * one's token: the toolstack's PreCopy to a migration's source hypervisor, which then
 * streams the pages to the target hypervisor's control plane.
 */
export const TARGET_TOKEN_HEADER = 'x-vnetlab-target-token';

/** Client options that put `token` under `header` on every call (none: the options are empty). */
export function tokenClientOptions(header: string, token: string | undefined): Partial<grpc.ClientOptions> {
  if (!token) return {};
  const withToken: grpc.Interceptor = (options, next) =>
    new grpc.InterceptingCall(next(options), {
      start(metadata, listener, start) {
        metadata.set(header, token);
        start(metadata, listener);
      },
    });
  return { interceptors: [withToken] };
}

/** Client options for a service's control plane: its token on every call. */
export const controlClientOptions = (token: string | undefined): Partial<grpc.ClientOptions> => tokenClientOptions(CONTROL_TOKEN_HEADER, token);

/** Whether `presented` (a metadata value) is `token`, compared in constant time. */
export function tokenMatches(presented: unknown, token: string): boolean {
  if (typeof presented !== 'string' || presented.length !== token.length) return false;
  return timingSafeEqual(Buffer.from(presented), Buffer.from(token));
}

/** A server call of any shape, as a token check sees it. */
export type AnyServerCall = grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerReadableStream<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>;

export interface TokenGuard {
  /** The metadata key the token travels in. */
  header: string;
  token: string;
  /** What the token is called in a refusal ("no operator token", "wrong control token"). */
  name: string;
  /** What the token is, for the refusal's text (e.g. "the operator API takes the token of the lab file"). */
  hint: string;
  /** Told of every refusal, to count and log it. */
  refused: (method: string, why: string) => void;
  /** Methods (implementation keys, e.g. 'hypercalls') that check their caller themselves. */
  selfChecked?: readonly string[];
  /** Another credential a method takes beside the token (e.g. a domain's own, for its own DomainInfo). */
  alsoAccepts?: (method: string, call: AnyServerCall) => boolean;
}

/**
 * The service's handlers behind a token check: a call without the token, or with another,
 * is answered UNAUTHENTICATED before its handler runs, and reported to `refused`.
 */
export function requireToken<I extends grpc.UntypedServiceImplementation>(definition: grpc.ServiceDefinition<I>, impl: I, guard: TokenGuard): I {
  const out: grpc.UntypedServiceImplementation = { ...impl };
  for (const [name, method] of Object.entries(definition)) {
    const handler = impl[name];
    if (typeof handler !== 'function' || guard.selfChecked?.includes(name)) continue;
    out[name] = ((call: AnyServerCall, cb?: grpc.sendUnaryData<unknown>) => {
      const presented = call.metadata.get(guard.header)[0];
      if (!tokenMatches(presented, guard.token) && !guard.alsoAccepts?.(name, call)) {
        const why = `${presented === undefined ? 'no' : 'wrong'} ${guard.name}`;
        guard.refused(method.path, why);
        const err = { code: grpc.status.UNAUTHENTICATED, details: `${why}: ${guard.hint}` };
        if (cb) cb(err as grpc.ServiceError, null);
        else (call as grpc.ServerWritableStream<unknown, unknown>).emit('error', err);
        return;
      }
      return (handler as (c: unknown, cb?: unknown) => void)(call, cb);
    }) as grpc.UntypedHandleCall;
  }
  return out as I;
}
