// A domain's hypercall path: one gRPC stream to its host's hypervisor, many calls in flight.
// Results come back with the cycles the hypervisor charged; the caller's CPU pays them.
import * as grpc from '@grpc/grpc-js';
import { isPrimitive, type Primitive } from '@vnetlab/cost';
import { hypercall } from '@vnetlab/proto';
import { StreamRpcClient, grpcClient, unary } from './stream_rpc_client.js';

export interface GrantPtrArg { gref?: number; gfn?: number; domid: number; offset: number }
export interface GrantCopyArg { source: GrantPtrArg; dest: GrantPtrArg; len: number }

type Op = NonNullable<hypercall.HypercallRequest['op']>;

/** The gRPC metadata key a domain's hypercall stream carries its credential in. */
export const DOMAIN_TOKEN_HEADER = 'x-vnetlab-domain-token';

/** What the hypervisor says a call's cycles are made of, as [primitive, count] pairs. */
export type ChargeList = Array<[Primitive, number]>;
const chargesOf = (r: hypercall.HypercallResponse): ChargeList =>
  r.charges.filter((c) => isPrimitive(c.primitive)).map((c) => [c.primitive as Primitive, c.count]);

const ptr = (p: GrantPtrArg): hypercall.GrantPtr => ({
  ref: p.gref !== undefined ? { $case: 'gref', value: p.gref } : { $case: 'gfn', value: p.gfn ?? 0 },
  domid: p.domid,
  offset: p.offset,
});

export class HypercallClient {
  private readonly client: hypercall.HypervisorClient;
  private readonly rpc: StreamRpcClient<hypercall.HypercallRequest, hypercall.HypercallResponse>;

  /**
   * `token` is the domain's credential, handed to it by the toolstack: the hypervisor binds
   * the stream to the domain it names, so a domain can only ever make its own hypercalls.
   */
  constructor(addr: string, readonly domid: number, readonly pcpu: string, private readonly token = process.env['VNETLAB_DOMAIN_TOKEN'] ?? '') {
    this.client = grpcClient(hypercall.HypervisorClient, addr);
    this.rpc = new StreamRpcClient(() => this.client.hypercalls(this.credential()), { timeoutMs: 30_000 });
  }

  /** The domain's credential as call metadata: on its stream, and on its questions about domains. */
  private credential(): grpc.Metadata {
    const md = new grpc.Metadata();
    if (this.token) md.set(DOMAIN_TOKEN_HEADER, this.token);
    return md;
  }

  /** Waits until the hypervisor's gRPC server answers (it may still be starting). */
  async waitReady(timeoutMs = 15_000): Promise<void> {
    await new Promise<void>((resolve, reject) =>
      this.client.waitForReady(Date.now() + timeoutMs, (err) => (err ? reject(err) : resolve())),
    );
  }

  domain(name: string): Promise<hypercall.DomainInfo> {
    return unary((cb) => this.client.getDomain({ domid: 0, name }, this.credential(), cb));
  }

  listDomains(): Promise<hypercall.ListDomainsResponse> {
    return unary((cb) => this.client.listDomains({}, this.credential(), cb));
  }

  call(op: Op, tNs: number): Promise<hypercall.HypercallResponse> {
    return this.rpc.call({ caller: this.domid, tNs, pcpu: this.pcpu, op });
  }

  async grantCopy(ops: GrantCopyArg[], tNs: number): Promise<Array<{ status: number; cycles: number; charges?: ChargeList }>> {
    const r = await this.call({ $case: 'grantCopy', value: { ops: ops.map((o) => ({ source: ptr(o.source), dest: ptr(o.dest), len: o.len })) } }, tNs);
    if (r.statuses.length !== ops.length) return ops.map((_, i) => ({ status: r.status < 0 ? r.status : -1, cycles: i === 0 ? r.cycles : 0 }));
    // the whole call's cycles ride on the first op, as the hypervisor logic reports them
    return r.statuses.map((status, i) => (i === 0 ? { status, cycles: r.cycles, charges: chargesOf(r) } : { status, cycles: 0 }));
  }

  async grantMap(granter: number, gref: number, readonly: boolean, tNs: number) {
    const r = await this.call({ $case: 'grantMap', value: { granter, gref, readonly, deviceOnly: false } }, tNs);
    return { status: r.status, mfn: r.mfn, handle: r.handle, cycles: r.cycles, charges: chargesOf(r) };
  }

  /** Several grant maps in one hypercall: one result per op, and the call's charges on the first. */
  async grantMapBatch(ops: Array<{ granter: number; gref: number; readonly: boolean; deviceOnly?: boolean }>, tNs: number) {
    const r = await this.call({ $case: 'grantMapBatch', value: { ops: ops.map((o) => ({ granter: o.granter, gref: o.gref, readonly: o.readonly, deviceOnly: o.deviceOnly === true })) } }, tNs);
    const charges = chargesOf(r);
    return ops.map((_, i) => ({
      status: r.statuses[i] ?? (r.status < 0 ? r.status : -1),
      mfn: r.mfns[i] ?? 0,
      handle: r.handles[i] ?? 0,
      cycles: i === 0 ? r.cycles : 0,
      ...(i === 0 ? { charges } : {}),
    }));
  }

  /** Several grant unmaps in one hypercall. */
  async grantUnmapBatch(handles: number[], tNs: number) {
    const r = await this.call({ $case: 'grantUnmapBatch', value: { handles } }, tNs);
    const charges = chargesOf(r);
    return handles.map((_, i) => ({ status: r.statuses[i] ?? -1, cycles: i === 0 ? r.cycles : 0, ...(i === 0 ? { charges } : {}) }));
  }

  /** CDNA: validate and enqueue buffers on the caller's queue set (`qs` is the hypervisor's queue-set id). */
  async cdnaEnqueue(qs: number, rx: boolean, buffers: Array<{ gfn?: number; mfn?: number; offset: number; len: number }>, tNs: number) {
    const wire = buffers.map((b) => ({ gfn: b.gfn ?? 0, mfn: b.mfn ?? 0, byMfn: b.mfn !== undefined, offset: b.offset, len: b.len }));
    const r = await this.call({ $case: 'cdnaEnqueue', value: { queueSet: qs, rx, buffers: wire } }, tNs);
    return { status: r.status, tail: r.tail, accepted: r.accepted, charges: chargesOf(r) };
  }

  /** CDNA: release every buffer of a ring the NIC finished by tNs. */
  async cdnaComplete(qs: number, rx: boolean, tNs: number) {
    const r = await this.call({ $case: 'cdnaComplete', value: { queueSet: qs, rx } }, tNs);
    return { status: r.status, completed: r.completed, charges: chargesOf(r) };
  }

  async grantTransfer(gfn: number, toDomid: number, gref: number, tNs: number) {
    const r = await this.call({ $case: 'grantTransfer', value: { gfn, toDomid, gref } }, tNs);
    return { status: r.status, cycles: r.cycles, charges: chargesOf(r) };
  }

  async acceptTransfer(gref: number, gfn: number, tNs: number) {
    const r = await this.call({ $case: 'acceptTransfer', value: { gref, gfn } }, tNs);
    return { status: r.status, mfn: r.mfn, cycles: r.cycles, charges: chargesOf(r) };
  }

  async populatePhysmap(gfn: number, tNs: number) {
    const r = await this.call({ $case: 'populatePhysmap', value: { gfn } }, tNs);
    return { status: r.status, mfn: r.mfn, cycles: r.cycles, charges: chargesOf(r) };
  }

  /** A PV guest's write to its own p2m (see P2mWrite in hypercall.proto). */
  async p2mWrite(gfn: number, mfn: number, tNs: number) {
    const r = await this.call({ $case: 'p2mWrite', value: { gfn, mfn } }, tNs);
    return { status: r.status, cycles: r.cycles, charges: chargesOf(r) };
  }

  /** The caller's kernel boots: what an earlier one held is released (see SoftReset); `boots` > 1 means an earlier one ran. */
  async softReset(tNs: number) {
    const r = await this.call({ $case: 'softReset', value: {} }, tNs);
    return { status: r.status, ports: r.port, boots: r.boots, cycles: r.cycles };
  }

  async evtchnAllocUnbound(remoteDomid: number, tNs: number) {
    const r = await this.call({ $case: 'evtchnAllocUnbound', value: { remoteDomid } }, tNs);
    return { status: r.status, port: r.port, cycles: r.cycles };
  }

  async evtchnBindInterdomain(remoteDomid: number, remotePort: number, tNs: number) {
    const r = await this.call({ $case: 'evtchnBindInterdomain', value: { remoteDomid, remotePort } }, tNs);
    return { status: r.status, port: r.port, cycles: r.cycles };
  }

  evtchnSend(port: number, tNs: number): Promise<hypercall.HypercallResponse> {
    return this.call({ $case: 'evtchnSend', value: { port } }, tNs);
  }

  async bindPirq(irq: number, tNs: number) {
    const r = await this.call({ $case: 'bindPirq', value: { irq } }, tNs);
    return { status: r.status, port: r.port };
  }

  close(): void {
    this.rpc.close();
    this.client.close();
  }
}

