// The CLI's side of the operator API: a promise-returning wrapper over the gRPC client.
import { Metadata, credentials, type Client, type ServiceError } from '@grpc/grpc-js';
import { control } from '@vnetlab/proto';

type Unary<Req, Res> = (req: Req, cb: (err: ServiceError | null, res: Res) => void) => unknown;

function call<Req, Res>(client: Client, method: Unary<Req, Res>, req: Req, timeoutMs: number): Promise<Res> {
  return new Promise((resolve, reject) => {
    const deadline = new Date(Date.now() + timeoutMs);
    (method as unknown as (r: Req, m: unknown, o: unknown, cb: (e: ServiceError | null, r: Res) => void) => void).call(
      client,
      req,
      new Metadata(),
      { deadline },
      (err: ServiceError | null, res: Res) => (err ? reject(new Error(err.details || err.message)) : resolve(res)),
    );
  });
}

export class OperatorApi {
  private readonly client: control.OperatorClient;

  constructor(addr: string) {
    this.client = new control.OperatorClient(addr, credentials.createInsecure());
  }

  status(timeoutMs = 5000) {
    return call(this.client, this.client.status, {}, timeoutMs);
  }
  ping(req: control.PingRequest, timeoutMs = 60_000) {
    return call(this.client, this.client.ping, req, timeoutMs);
  }
  bulk(req: control.BulkRequest, timeoutMs = 30 * 60_000) {
    return call(this.client, this.client.bulk, req, timeoutMs);
  }
  shutdown(timeoutMs = 20_000) {
    return call(this.client, this.client.shutdown, {}, timeoutMs);
  }
  close(): void {
    this.client.close();
  }
}
