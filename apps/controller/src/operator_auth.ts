// The operator's credential. The operator API (Operator, Inspect, Protection, Faults,
// Migrations) can switch a host's protection off, fail NICs and drive any guest: a guest
// process on the same machine must not reach it. `vnetlab up` makes a random token, which only
// the lab file (mode 0600, the operator's) holds; the CLI sends it as gRPC metadata on every
// call, and the controller refuses a call without it (UNAUTHENTICATED, counted as a bad message):
// the token is the controller's control token (libs/runtime control_auth.ts), in a header of its own.
import { randomBytes } from 'node:crypto';
import type * as grpc from '@grpc/grpc-js';
import { requireToken, tokenClientOptions } from '@vnetlab/runtime';

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
  return tokenClientOptions(OPERATOR_TOKEN_HEADER, tokens.get(addr));
}

/** How a call to the operator API presents the lab's token (the controller's control token). */
export const OPERATOR_CREDENTIAL = { header: OPERATOR_TOKEN_HEADER, name: 'operator token', hint: 'the operator API takes the token of the lab file (vnetlab up writes it)' };

/**
 * The service's handlers behind the token check: a call without the token, or with another,
 * is answered UNAUTHENTICATED and reported to `refused` (the service counts and logs it).
 * (A controller started with the operator token as its control token and OPERATOR_CREDENTIAL
 * guards every service it adds, Admin included, without this.)
 */
export function requireOperatorToken<I extends grpc.UntypedServiceImplementation>(
  definition: grpc.ServiceDefinition<I>,
  impl: I,
  token: string,
  refused: (method: string, why: string) => void,
): I {
  return requireToken(definition, impl, { ...OPERATOR_CREDENTIAL, token, refused });
}
