// The service kit: what every vnetlab process has around its logic — a NATS connection,
// logs, /metrics and /healthz, a gRPC server with the Admin service, protobuf
// subscriptions that survive bad input, xenstore-style KV, and a graceful shutdown.
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import type { FlowCount } from '@vnetlab/flows';
import { connect } from '@nats-io/transport-node';
import type { Msg, NatsConnection, Subscription } from '@nats-io/nats-core';
import { Kvm, type KV, type KvOptions } from '@nats-io/kv';
import { coalesceWrites } from './nats_coalesce.js';
import { control, subjects, type LabEvent } from '@vnetlab/proto';
import { createLogger, type Logger } from './logger.js';
import { ServiceMetrics } from './service_metrics.js';
import type { ServiceConfig } from './service_args.js';
import { CONTROL_TOKEN_HEADER, requireToken, type TokenGuard } from './control_auth.js';

/** Who else, beside a holder of the service's control token, may call some of a gRPC service's methods. */
export type GrpcAccess = Pick<TokenGuard, 'selfChecked' | 'alsoAccepts'>;

/**
 * Thrown by a subscription handler to refuse a message under its own reason
 * (e.g. 'unknown_queue_set'); any other error counts under reason 'handler'.
 */
/** After a reconnection, the second rescan: time enough for every service to resubscribe. */
const RECONNECT_RESCAN_MS = 1000;

export class BadMessageError extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'BadMessageError';
  }
}

/** A service used before it was set up, or after it stopped. */
export class ServiceStateError extends Error {
  constructor(
    readonly reason: 'no_nats' | 'already_listening' | 'closed',
    message: string,
  ) {
    super(message);
    this.name = 'ServiceStateError';
  }
}

/** A ledger row as the cost library gives it; host defaults to the service's host. */
export interface LedgerSourceRow {
  host?: string;
  pcpu: string;
  domain: string;
  primitive: string;
  cycles: number;
  ops: number;
}
export type LedgerSource = () => LedgerSourceRow[] | Promise<LedgerSourceRow[]>;

/** A flow's conservation counters as a component holds them. */
export type FlowSourceRow = FlowCount;
export type FlowSource = () => FlowSourceRow[] | Promise<FlowSourceRow[]>;

export interface SubscribeOptions {
  /** NATS queue group: the messages are shared among its members. */
  queue?: string;
  /**
   * Handle messages concurrently. By default a subscription handles one message at a time
   * in arrival order (signals such as doorbells must not overtake each other).
   */
  concurrent?: boolean;
}

export interface StartServiceOptions {
  config: ServiceConfig;
  /** Domain the service runs as, for logs (e.g. 'dom0', 'guest1'). */
  domain?: string;
  /** Stop gracefully on SIGTERM/SIGINT and exit 0 (default true; tests pass false). */
  handleSignals?: boolean;
  /** Connect to NATS (default true). Without it `nc` throws. */
  connectNats?: boolean;
  /** Export Node's process metrics (default true). */
  processMetrics?: boolean;
  /** Logger to use instead of JSON lines on stderr. */
  log?: Logger;
  /** How a call presents config.controlToken (default: CONTROL_TOKEN_HEADER, "control token"). */
  credential?: Pick<TokenGuard, 'header' | 'name' | 'hint'>;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), ms)));
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** Longest error detail a gRPC answer carries (it travels in a header: grpc-message). */
export const MAX_ERROR_DETAILS = 2000;

function clipped(text: string): string {
  return text.length <= MAX_ERROR_DETAILS ? text : `${text.slice(0, MAX_ERROR_DETAILS)}…(${text.length} characters)`;
}

/**
 * Wraps every unary and client-streaming handler so that an error's details are at most
 * MAX_ERROR_DETAILS characters. Errors often quote the request ("no guest \"…\""), and a
 * detail of a few hundred kilobytes does not fit the response headers: the call then never
 * completes, and the client waits for its deadline, or forever.
 */
export function boundedErrors<I extends grpc.UntypedServiceImplementation>(definition: grpc.ServiceDefinition<I>, impl: I, onError?: (method: string, err: Partial<grpc.ServiceError>) => void): I {
  const out: grpc.UntypedServiceImplementation = { ...impl };
  const bound = (err: unknown, method: string): unknown => {
    if (!err || typeof err !== 'object') return err;
    onError?.(method, err as Partial<grpc.ServiceError>);
    const e = err as Partial<grpc.ServiceError>;
    const details = e.details ?? e.message ?? '';
    return details.length > MAX_ERROR_DETAILS ? ({ code: e.code ?? grpc.status.UNKNOWN, details: clipped(details), metadata: e.metadata } as Partial<grpc.StatusObject>) : err;
  };
  for (const [name, method] of Object.entries(definition)) {
    const handler = impl[name];
    if (typeof handler !== 'function') continue;
    if (method.responseStream) {
      // a streaming method ends in error through the call itself: clip what it emits
      out[name] = ((call: grpc.ServerWritableStream<unknown, unknown>) => {
        const emit = call.emit.bind(call);
        call.emit = ((event: string | symbol, ...args: unknown[]) => (event === 'error' ? emit(event, bound(args[0], method.path)) : emit(event, ...args))) as typeof call.emit;
        return (handler as (c: unknown) => void)(call);
      }) as grpc.UntypedHandleCall;
      continue;
    }
    out[name] = ((call: unknown, cb: grpc.sendUnaryData<unknown>) =>
      (handler as (c: unknown, cb: grpc.sendUnaryData<unknown>) => void)(call, (err, value, trailer, flags) => cb(bound(err, method.path) as grpc.ServiceError | null, value, trailer, flags))) as grpc.UntypedHandleCall;
  }
  return out as I;
}

/** vnetlab_bad_messages_total reason of a gRPC request that does not decode. */
export const GRPC_MALFORMED = 'grpc_malformed';
/** vnetlab_bad_messages_total reason of a gRPC request its handler answered INVALID_ARGUMENT. */
export const GRPC_INVALID_ARGUMENT = 'grpc_invalid_argument';
/** vnetlab_bad_messages_total reason of a gRPC request larger than GRPC_MAX_REQUEST_BYTES. */
export const GRPC_OVERSIZED = 'grpc_oversized';
/** The largest request a service takes (gRPC's customary 4 MiB; a page batch of a migration is 1 MiB). */
export const GRPC_MAX_REQUEST_BYTES = 4 << 20;
/**
 * What grpc-js reads of a request before refusing it unseen (RESOURCE_EXHAUSTED, uncounted):
 * above the limit the lab holds requests to, so that an oversized request reaches the
 * decoder below and is counted. It also bounds the memory one call can take.
 */
export const GRPC_READ_LIMIT = 16 << 20;

/**
 * `definition` with every method's request decoder reporting the requests it cannot decode.
 * grpc-js decodes a request before any handler runs and answers INTERNAL ("Error deserializing
 * request") when the decoder throws, so a service would never see them otherwise; the error
 * is thrown on, and grpc-js answers as before.
 */
export function countedDecoding<D extends grpc.ServiceDefinition>(definition: D, refused: (method: string, bytes: number, error: unknown, reason: string) => void): D {
  const out: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, method] of Object.entries(definition as Record<string, grpc.MethodDefinition<unknown, unknown>>)) {
    const decode = method.requestDeserialize;
    out[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer) => {
        if (bytes.length > GRPC_MAX_REQUEST_BYTES) {
          const e = new Error(`request of ${bytes.length} bytes, over the ${GRPC_MAX_REQUEST_BYTES}-byte limit`);
          refused(method.path, bytes.length, e, GRPC_OVERSIZED);
          throw e;
        }
        try {
          return decode(bytes);
        } catch (e) {
          refused(method.path, bytes.length, e, GRPC_MALFORMED);
          throw e;
        }
      },
    };
  }
  return out as D;
}

export class Service {
  readonly config: ServiceConfig;
  readonly log: Logger;
  readonly metrics: ServiceMetrics;
  readonly grpcServer = new grpc.Server({ 'grpc.max_receive_message_length': GRPC_READ_LIMIT });
  private readonly credential: StartServiceOptions['credential'];
  private natsConn: NatsConnection | undefined;
  private http: HttpServer | undefined;
  private boundGrpcPort: number | undefined;
  private isReady = false;
  private stopping: Promise<void> | undefined;
  private ledgerSource: LedgerSource = () => [];
  private flowSource: FlowSource = () => [];
  private readonly hooks: Array<() => void | Promise<void>> = [];
  private readonly kvs = new Map<string, Promise<KV>>();
  private readonly signalHandler = (sig: NodeJS.Signals): void => {
    this.log.info('signal received, stopping', { signal: sig });
    void this.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };

  constructor(opts: StartServiceOptions) {
    this.config = opts.config;
    this.credential = opts.credential;
    this.log =
      opts.log ??
      createLogger({ service: opts.config.name, host: opts.config.host, ...(opts.domain ? { domain: opts.domain } : {}) });
    this.metrics = new ServiceMetrics({ service: opts.config.name, host: opts.config.host }, this.log, {
      processMetrics: opts.processMetrics ?? true,
    });
  }

  get name(): string {
    return this.config.name;
  }
  get kind(): string {
    return this.config.kind;
  }
  get host(): string {
    return this.config.host;
  }

  /** The NATS connection (reconnects forever). */
  get nc(): NatsConnection {
    if (!this.natsConn) throw new ServiceStateError('no_nats', `service ${this.name} was started without NATS`);
    return this.natsConn;
  }

  /** Port /metrics and /healthz are served on. */
  get httpPort(): number {
    return (this.http?.address() as AddressInfo | null)?.port ?? 0;
  }

  /** Port of the gRPC server, once listen() has bound it. */
  get grpcPort(): number | undefined {
    return this.boundGrpcPort;
  }

  /** host:port clients reach the gRPC server on, once listen() has bound it. */
  get grpcAddress(): string | undefined {
    if (this.boundGrpcPort === undefined) return undefined;
    const host = this.config.bindAddress === '0.0.0.0' ? '127.0.0.1' : this.config.bindAddress;
    return `${host}:${this.boundGrpcPort}`;
  }

  get readyState(): 'starting' | 'ok' | 'stopping' {
    return this.stopping ? 'stopping' : this.isReady ? 'ok' : 'starting';
  }

  /** @internal Called by startService. */
  async start(opts: StartServiceOptions): Promise<void> {
    await this.startHttp();
    if (opts.connectNats ?? true) await this.connectNats();
    if (opts.handleSignals ?? true) {
      process.on('SIGTERM', this.signalHandler);
      process.on('SIGINT', this.signalHandler);
    }
    this.log.info('service started', { kind: this.kind, httpPort: this.httpPort, nats: this.config.natsUrl });
  }

  private async startHttp(): Promise<void> {
    const http = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (path === '/metrics') {
        this.metrics.text().then(
          (body) => {
            res.writeHead(200, { 'Content-Type': this.metrics.registry.contentType });
            res.end(body);
          },
          (e: unknown) => {
            res.writeHead(500, { 'Content-Type': 'text/plain' });
            res.end(`metrics failed: ${errorText(e)}\n`);
          },
        );
      } else if (path === '/healthz') {
        const state = this.readyState;
        res.writeHead(state === 'ok' ? 200 : 503, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(this.healthBody(state)) + '\n');
      } else {
        res.writeHead(404, { 'Content-Type': 'text/plain' });
        res.end('not found: try /metrics or /healthz\n');
      }
    });
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(this.config.httpPort, this.config.bindAddress, () => {
        http.off('error', reject);
        resolve();
      });
    });
    this.http = http;
  }

  private healthBody(state: string): Record<string, unknown> {
    return {
      status: state,
      service: this.name,
      kind: this.kind,
      host: this.host,
      pid: process.pid,
      modelledTimeNs: this.metrics.modelledTimeNs,
    };
  }

  private async connectNats(): Promise<void> {
    // waitOnFirstConnect: a service started before its NATS server keeps trying (with
    // /healthz answering 503 meanwhile) instead of dying.
    this.log.info('connecting to NATS', { nats: this.config.natsUrl });
    const nc = await connect({
      servers: this.config.natsUrl,
      name: `${this.kind}/${this.name}`,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      waitOnFirstConnect: true,
      // a service with its own user gets its own inbox prefix: the server lets it hear only
      // replies addressed to it
      ...(this.config.natsUser !== undefined ? { user: this.config.natsUser, pass: this.config.natsPassword ?? '', inboxPrefix: `_INBOX_${this.config.natsUser}` } : {}),
    });
    this.natsConn = nc;
    if (!coalesceWrites(nc)) this.log.warn('NATS client not of the expected shape: one socket write per message');
    const reconnects = this.metrics.counter('vnetlab_nats_reconnects_total', 'Reconnections to the NATS server');
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect') this.log.warn('NATS disconnected', { server: s.server });
        else if (s.type === 'reconnect') {
          reconnects.inc();
          this.log.info('NATS reconnected', { server: s.server });
          this.afterReconnect();
        } else if (s.type === 'error') this.log.error('NATS error', { error: s.error });
      }
    })().catch(() => undefined);
  }

  /**
   * Adds a gRPC service of the app (before listen()); error details are bounded
   * (boundedErrors). Every method takes only calls carrying the service's control token
   * (config.controlToken), unless `access` says otherwise.
   */
  addGrpc<I extends grpc.UntypedServiceImplementation>(definition: grpc.ServiceDefinition<I>, impl: I, access: GrpcAccess = {}): void {
    const counted = countedDecoding(definition, (method, bytes, e, reason) => this.metrics.badMessage(reason, { method, bytes, error: errorText(e) }));
    // a request that decodes but whose values its handler refuses as invalid (out of range)
    const invalid = (method: string, e: Partial<grpc.ServiceError>) => {
      if (e.code === grpc.status.INVALID_ARGUMENT) this.metrics.badMessage(GRPC_INVALID_ARGUMENT, { method, error: clipped(e.details ?? e.message ?? '').slice(0, 200) });
    };
    this.grpcServer.addService(counted, boundedErrors(counted, this.guarded(counted, impl, access), invalid));
  }

  /** `impl` behind the control-token check; unguarded when the service was given no token. */
  private guarded<I extends grpc.UntypedServiceImplementation>(definition: grpc.ServiceDefinition<I>, impl: I, access: GrpcAccess): I {
    const token = this.config.controlToken;
    if (!token) return impl;
    return requireToken(definition, impl, {
      ...access,
      header: CONTROL_TOKEN_HEADER,
      name: 'control token',
      hint: `${this.name}'s control plane takes only its own control token, which the toolstack gave it (the lab file holds it)`,
      ...this.credential,
      token,
      refused: (method, why) => this.metrics.badMessage('unauthenticated', { method, error: why }),
    });
  }

  /** Supplies the ledger the Admin service reports. */
  /** Where Admin.Flows gets this service's per-flow counters. */
  setFlowSource(fn: FlowSource): void {
    this.flowSource = fn;
    this.metrics.exportFlows(fn);
  }

  setLedgerSource(fn: LedgerSource): void {
    this.ledgerSource = fn;
    this.metrics.exportLedger(fn);
  }

  /** Binds the gRPC server (with the Admin service added) on grpcPort; returns the port. */
  async listen(): Promise<number> {
    if (this.boundGrpcPort !== undefined) throw new ServiceStateError('already_listening', 'listen() called twice');
    if (this.stopping) throw new ServiceStateError('closed', 'service is stopping');
    this.addGrpc(control.AdminService, this.adminImpl());
    if (!this.config.controlToken) this.log.warn('no control token: this service\'s gRPC control plane takes calls from anyone who can reach it');
    const port = await new Promise<number>((resolve, reject) => {
      this.grpcServer.bindAsync(
        `${this.config.bindAddress}:${this.config.grpcPort}`,
        grpc.ServerCredentials.createInsecure(),
        (err, p) => (err ? reject(err) : resolve(p)),
      );
    });
    this.boundGrpcPort = port;
    this.log.info('gRPC listening', { grpcPort: port });
    return port;
  }

  private adminImpl(): control.AdminServer {
    return {
      health: (_call, cb) => {
        cb(null, {
          status: this.readyState,
          service: this.name,
          kind: this.kind,
          host: this.host,
          modelledTimeNs: this.metrics.modelledTimeNs,
        });
      },
      flows: (_call, cb) => {
        Promise.resolve()
          .then(() => this.flowSource())
          .then(
            (rows) =>
              cb(null, {
                flows: rows.map((f) => {
                  const dropped = Object.values(f.drops).reduce((a, b) => a + b, 0);
                  return {
                    flow: f.flow,
                    sentFrames: f.sentFrames,
                    sentBytes: f.sentBytes,
                    deliveredFrames: f.deliveredFrames,
                    deliveredBytes: f.deliveredBytes,
                    drops: { ...f.drops },
                    inFlight: Math.max(0, f.sentFrames - f.deliveredFrames - dropped),
                    firstSentNs: f.firstSentNs ?? 0,
                    lastSentNs: f.lastSentNs ?? 0,
                    firstDeliveredNs: f.firstDeliveredNs ?? 0,
                    lastDeliveredNs: f.lastDeliveredNs ?? 0,
                    lostWith: [],
                  };
                }),
              }),
            (e: unknown) => cb({ code: grpc.status.INTERNAL, details: `flows failed: ${errorText(e)}` }),
          );
      },
      ledger: (_call, cb) => {
        Promise.resolve()
          .then(() => this.ledgerSource())
          .then(
            (rows) =>
              cb(null, {
                rows: rows.map((r) => ({
                  host: r.host ?? this.host,
                  pcpu: r.pcpu,
                  domain: r.domain,
                  primitive: r.primitive,
                  cycles: r.cycles,
                  ops: r.ops,
                })),
              }),
            (e: unknown) => cb({ code: grpc.status.INTERNAL, details: `ledger failed: ${errorText(e)}` }),
          );
      },
    };
  }

  /** /healthz answers 200 from now on. */
  ready(): void {
    if (this.isReady) return;
    this.isReady = true;
    this.log.info('service ready');
  }

  /**
   * Subscribes to `subject`, decoding each payload with `decode` (e.g. netif.EventBatch.decode).
   * A payload that does not decode, or whose handler throws, is counted in
   * vnetlab_bad_messages_total{reason} and logged; the subscription keeps serving.
   */
  subscribe<T>(
    subject: string,
    decode: (data: Uint8Array) => T,
    handler: (value: T, msg: Msg) => void | Promise<void>,
    opts: SubscribeOptions = {},
  ): Subscription {
    const handle = async (msg: Msg): Promise<void> => {
      let value: T;
      try {
        value = decode(msg.data);
      } catch (e) {
        this.metrics.badMessage('decode', { subject: msg.subject, bytes: msg.data.length, error: errorText(e) });
        return;
      }
      try {
        await handler(value, msg);
      } catch (e) {
        const reason = e instanceof BadMessageError ? e.reason : 'handler';
        this.metrics.badMessage(reason, { subject: msg.subject, error: e });
      }
    };
    let chain = Promise.resolve();
    return this.nc.subscribe(subject, {
      ...(opts.queue ? { queue: opts.queue } : {}),
      callback: (err, msg) => {
        if (err) {
          this.log.error('subscription error', { subject, error: err });
          return;
        }
        if (opts.concurrent) void handle(msg);
        else chain = chain.then(() => handle(msg));
      },
    });
  }

  /** Publishes an encoded payload; dropped (and logged) once the service is stopping. */
  publish(subject: string, data: Uint8Array): void {
    const nc = this.nc;
    if (nc.isClosed() || nc.isDraining()) {
      this.log.debug('publish after shutdown dropped', { subject });
      return;
    }
    nc.publish(subject, data);
  }

  /** Publishes an operator-visible event on lab.events (JSON). */
  event(kind: string, msg: string, fields: Record<string, unknown> = {}): void {
    const ev: LabEvent = { ...fields, kind, msg, service: this.name, host: this.host };
    this.publish(subjects.labEvents(), new TextEncoder().encode(JSON.stringify(ev)));
  }

  /** The NATS KV bucket `bucket` (created if missing), e.g. kv(XENSTORE_BUCKET). */
  kv(bucket: string, opts: Partial<KvOptions> = {}): Promise<KV> {
    let kv = this.kvs.get(bucket);
    if (!kv) {
      kv = new Kvm(this.nc).create(bucket, opts);
      this.kvs.set(bucket, kv);
      kv.catch(() => this.kvs.delete(bucket)); // let a later call retry
    }
    return kv;
  }

  private readonly reconnectHooks: Array<() => void | Promise<void>> = [];

  /**
   * Runs `fn` after every reconnection to NATS, and once more a second later (by then the
   * other services have resubscribed too). Signals published while this service was not
   * subscribed are gone; the owner re-reads its own state (rings, pending interrupts, the
   * tails its doorbells carry), as a domain rescans its pending event bits.
   */
  onReconnect(fn: () => void | Promise<void>): void {
    this.reconnectHooks.push(fn);
  }

  private afterReconnect(): void {
    const run = () => {
      for (const fn of this.reconnectHooks) {
        Promise.resolve()
          .then(fn)
          .catch((e: unknown) => this.log.warn('after-reconnect hook failed', { error: e }));
      }
    };
    run();
    const again = setTimeout(run, RECONNECT_RESCAN_MS);
    again.unref();
  }

  /** Runs `fn` at shutdown, before the servers close (last registered runs first). */
  onShutdown(fn: () => void | Promise<void>): void {
    this.hooks.unshift(fn);
  }

  /**
   * Stops gracefully: shutdown hooks, then gRPC, then NATS (drained: pending publishes
   * go out), then HTTP. Safe to call more than once. Does not exit the process.
   */
  close(): Promise<void> {
    this.stopping ??= this.doClose();
    return this.stopping;
  }

  private async doClose(): Promise<void> {
    process.off('SIGTERM', this.signalHandler);
    process.off('SIGINT', this.signalHandler);
    for (const fn of this.hooks) {
      try {
        await fn();
      } catch (e) {
        this.log.error('shutdown hook failed', { error: e });
      }
    }
    const graceful = new Promise<void>((resolve) => this.grpcServer.tryShutdown(() => resolve()));
    if ((await withTimeout(graceful, 2000)) === 'timeout') this.grpcServer.forceShutdown();
    if (this.natsConn && !this.natsConn.isClosed()) {
      const drained = this.natsConn.drain().catch((e: unknown) => this.log.warn('NATS drain failed', { error: e }));
      if ((await withTimeout(drained, 2000)) === 'timeout') await this.natsConn.close();
    }
    if (this.http) {
      const http = this.http;
      const closed = new Promise<void>((resolve) => http.close(() => resolve()));
      http.closeAllConnections();
      await closed;
    }
    this.log.info('service stopped');
  }
}

/** Starts a service: HTTP (/metrics, /healthz answering 503 until ready()), then NATS. */
export async function startService(opts: StartServiceOptions): Promise<Service> {
  const service = new Service(opts);
  try {
    await service.start(opts);
  } catch (e) {
    await service.close().catch(() => undefined);
    throw e;
  }
  return service;
}
