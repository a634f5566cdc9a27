// A client of one service of the lab, carrying that service's control token (the lab file
// holds every service's; libs/runtime control_auth.ts): without it the service refuses the call.
import type * as grpc from '@grpc/grpc-js';
import { controlClientOptions, grpcClient } from '@vnetlab/runtime';
import type { ServiceState } from './labfile.js';

const RECONNECT = { 'grpc.initial_reconnect_backoff_ms': 100, 'grpc.max_reconnect_backoff_ms': 1000 };

export function serviceClient<C>(
  ClientCtor: new (address: string, credentials: grpc.ChannelCredentials, options?: Partial<grpc.ClientOptions>) => C,
  s: Pick<ServiceState, 'grpcAddr' | 'controlToken'>,
  options: Partial<grpc.ClientOptions> = {},
): C {
  // a lab's service may be killed and started again on the same port (vnetlab restart): a
  // call made while it was down must not leave its channel backing off for minutes
  return grpcClient(ClientCtor, s.grpcAddr, { ...RECONNECT, ...options, ...controlClientOptions(s.controlToken) });
}
