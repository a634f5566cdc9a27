// @vnetlab/runtime: the service kit every vnetlab app runs in.
export { parseServiceArgs, serviceUsage, envName, ConfigError } from './service_args.js';
export type { ServiceConfig, ServiceSpec, OptionSpec } from './service_args.js';
export { runMain } from './run_main.js';
export { createLogger } from './logger.js';
export type { Logger, LogLevel, LogFields, LoggerOptions } from './logger.js';
export { ServiceMetrics } from './service_metrics.js';
export { startService, Service, BadMessageError, ServiceStateError } from './service.js';
export { MAX_MODELLED_NS, isModelledTime, checkModelledTime } from './modelled_time.js';
export type { StartServiceOptions, SubscribeOptions, LedgerSource, LedgerSourceRow, FlowSource, FlowSourceRow } from './service.js';
export { StreamRpcClient, StreamRpcError, grpcClient, unary } from './stream_rpc_client.js';
export type { DuplexStream, StreamRpcClientOptions } from './stream_rpc_client.js';
export { startNatsServer, stopNatsServer, reloadNatsServer, findNatsServer, freePort, NatsServerError } from './nats_server.js';
export type { NatsServerOptions, NatsServerHandle } from './nats_server.js';
export { KvStore, type StoreWatchEvent } from './kv_store.js';
export { HypercallClient, DOMAIN_TOKEN_HEADER, type GrantCopyArg, type GrantPtrArg } from './hypercall_client.js';
export { type ChargeList } from './hypercall_client.js';
export type { HostShared } from './host_shared.js';
export { Taps, type ActiveTrace, type CapturePoints, type HopFields } from './taps.js';
