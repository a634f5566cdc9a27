// Request/response over one long-lived gRPC bidi stream, correlated by `seq` — the shape of
// the Hypercalls stream: a domain keeps many hypercalls in flight without one HTTP/2 stream
// per call, and the server may answer them in any order.
import * as grpc from '@grpc/grpc-js';

/** Why a call on the stream did not get its answer. */
export class StreamRpcError extends Error {
  constructor(
    readonly reason: 'stream_error' | 'stream_ended' | 'closed' | 'timeout',
    message: string,
    override readonly cause?: unknown,
  ) {
    super(message);
    this.name = 'StreamRpcError';
  }
}

/** The client end of a bidi stream, as grpc-js returns it. */
export type DuplexStream<Req, Res> = grpc.ClientDuplexStream<Req, Res>;

interface Pending<Res> {
  resolve(res: Res): void;
  reject(err: Error): void;
  timer?: NodeJS.Timeout;
}

export interface StreamRpcClientOptions {
  /** Reject a call that has no answer after this long (ms); default: wait forever. */
  timeoutMs?: number;
  /** Told of a response whose seq no call is waiting for (a late answer after a timeout). */
  onUnmatched?: (res: { seq: number }) => void;
}

export class StreamRpcClient<Req extends { seq: number }, Res extends { seq: number }> {
  private stream: DuplexStream<Req, Res> | undefined;
  private readonly pending = new Map<number, Pending<Res>>();
  // seq keeps counting across reconnects, so a late answer on a dead stream matches nothing.
  private nextSeq = 1;
  private closed = false;

  /** `open` starts a new stream, e.g. () => hypervisorClient.hypercalls(). */
  constructor(
    private readonly open: () => DuplexStream<Req, Res>,
    private readonly opts: StreamRpcClientOptions = {},
  ) {}

  /** Calls waiting for their answer. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Sends `req` with a fresh seq (any seq given is replaced) and resolves with its answer. */
  call(req: Omit<Req, 'seq'> & { seq?: number }): Promise<Res> {
    if (this.closed) return Promise.reject(new StreamRpcError('closed', 'stream RPC client is closed'));
    const stream = this.stream ?? this.connect();
    const seq = this.nextSeq++;
    return new Promise<Res>((resolve, reject) => {
      const p: Pending<Res> = { resolve, reject };
      if (this.opts.timeoutMs !== undefined) {
        p.timer = setTimeout(() => {
          this.pending.delete(seq);
          reject(new StreamRpcError('timeout', `no answer to seq ${seq} after ${this.opts.timeoutMs} ms`));
        }, this.opts.timeoutMs);
      }
      this.pending.set(seq, p);
      stream.write({ ...req, seq } as Req);
    });
  }

  /** Ends the stream; calls still waiting are rejected with reason 'closed'. */
  close(): void {
    this.closed = true;
    const s = this.stream;
    this.stream = undefined;
    this.failAll(new StreamRpcError('closed', 'stream RPC client closed'));
    if (s) {
      s.removeAllListeners();
      s.on('error', () => undefined); // the cancel below surfaces as an error event
      s.cancel();
    }
  }

  private connect(): DuplexStream<Req, Res> {
    const s = this.open();
    this.stream = s;
    s.on('data', (res: Res) => {
      const p = this.pending.get(res.seq);
      if (!p) {
        this.opts.onUnmatched?.(res);
        return;
      }
      this.pending.delete(res.seq);
      if (p.timer) clearTimeout(p.timer);
      p.resolve(res);
    });
    // Either way the stream is gone: drop it so that the next call opens a new one.
    const lost = (err: StreamRpcError): void => {
      if (this.stream !== s) return;
      this.stream = undefined;
      this.failAll(err);
    };
    s.on('error', (e: Error) => lost(new StreamRpcError('stream_error', `stream failed: ${e.message}`, e)));
    s.on('end', () => lost(new StreamRpcError('stream_ended', 'stream ended by the server')));
    return s;
  }

  private failAll(err: Error): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) {
      if (p.timer) clearTimeout(p.timer);
      p.reject(err);
    }
  }
}

/** A client of a generated service (e.g. hypercall.HypervisorClient) on `addr`, insecure. */
export function grpcClient<C>(
  ClientCtor: new (address: string, credentials: grpc.ChannelCredentials, options?: Partial<grpc.ClientOptions>) => C,
  addr: string,
  options?: Partial<grpc.ClientOptions>,
): C {
  return new ClientCtor(addr, grpc.credentials.createInsecure(), options);
}

/** A unary call as a promise: unary<DomainInfo>((cb) => client.getDomain(req, cb)). */
export function unary<Res>(invoke: (cb: (err: grpc.ServiceError | null, res: Res) => void) => unknown): Promise<Res> {
  return new Promise<Res>((resolve, reject) => {
    invoke((err, res) => (err ? reject(err) : resolve(res)));
  });
}
