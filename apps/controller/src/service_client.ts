// A client of one service of the lab, carrying that service's control token (the lab file
// holds every service's; libs/runtime control_auth.ts): without it the service refuses the call.
import type * as grpc from '@grpc/grpc-js';
import { controlClientOptions, grpcClient } from '@vnetlab/runtime';
import type { ServiceState } from './labfile.js';

export function serviceClient<C>(
  ClientCtor: new (address: string, credentials: grpc.ChannelCredentials, options?: Partial<grpc.ClientOptions>) => C,
  s: Pick<ServiceState, 'grpcAddr' | 'controlToken'>,
  options: Partial<grpc.ClientOptions> = {},
): C {
  return grpcClient(ClientCtor, s.grpcAddr, { ...options, ...controlClientOptions(s.controlToken) });
}
