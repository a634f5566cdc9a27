// The CLI's side of the operator API: promise-returning calls with deadlines.
import { Metadata } from '@grpc/grpc-js';
import { control } from '@vnetlab/proto';
import { grpcClient, unary } from '@vnetlab/runtime';
import { operatorClientOptions } from './operator_auth.js';

const opts = (timeoutMs: number) => ({ deadline: Date.now() + timeoutMs });

export class OperatorApi {
  private readonly client: control.OperatorClient;

  constructor(addr: string) {
    // the lab's token, remembered when its lab file was read
    this.client = grpcClient(control.OperatorClient, addr, operatorClientOptions(addr));
  }

  status(timeoutMs = 5000) {
    return unary<control.StatusResponse>((cb) => this.client.status({}, new Metadata(), opts(timeoutMs), cb));
  }
  ping(req: control.PingRequest, timeoutMs = 60_000) {
    return unary<control.PingResponse>((cb) => this.client.ping(req, new Metadata(), opts(timeoutMs), cb));
  }
  bulk(req: control.BulkRequest, timeoutMs = 30 * 60_000) {
    return unary<control.BulkResponse>((cb) => this.client.bulk(req, new Metadata(), opts(timeoutMs), cb));
  }
  traffic(req: control.TrafficRequest, timeoutMs = 30 * 60_000) {
    return unary<control.TrafficResponse>((cb) => this.client.traffic(req, new Metadata(), opts(timeoutMs), cb));
  }
  shutdown(timeoutMs = 20_000) {
    return unary<control.ShutdownResponse>((cb) => this.client.shutdown({}, new Metadata(), opts(timeoutMs), cb));
  }
  close(): void {
    this.client.close();
  }
}
