// Fault injection from the operator: fail or repair a NIC (its link goes down or up).
import * as grpc from '@grpc/grpc-js';
import type { NatsConnection } from '@nats-io/transport-node';
import { fault, pcie, subjects } from '@vnetlab/proto';
import type { Topology } from '@vnetlab/topology';

export class FaultService {
  constructor(
    private readonly topo: Topology,
    private readonly nc: () => NatsConnection,
  ) {}

  async setNic(r: fault.SetNicRequest): Promise<fault.SetNicResponse> {
    const host = this.topo.hosts.find((h) => h.name === r.host);
    if (!host) throw new Error(`no host "${r.host}" (hosts: ${this.topo.hosts.map((h) => h.name).join(', ')})`);
    if (!host.nics.some((n) => n.name === r.nic)) throw new Error(`no NIC "${r.nic}" on ${r.host} (NICs: ${host.nics.map((n) => n.name).join(', ')})`);
    // wait for the NIC's own word that its link changed
    const sub = this.nc().subscribe(subjects.nicLink(r.host, r.nic), { max: 1 });
    this.nc().publish(subjects.nicFault(r.host, r.nic), pcie.NicFault.encode({ nic: r.nic, fail: r.fail }).finish());
    const timer = setTimeout(() => sub.unsubscribe(), 5000);
    for await (const m of sub) {
      clearTimeout(timer);
      return { up: pcie.LinkState.decode(m.data).up };
    }
    throw new Error(`${r.host}/${r.nic} did not report its link within 5 s`);
  }

  impl(): fault.FaultsServer {
    return {
      setNic: (call, cb) =>
        void this.setNic(call.request).then(
          (res) => cb(null, res),
          (e) => cb({ code: grpc.status.FAILED_PRECONDITION, details: (e as Error).message } as grpc.ServiceError, null),
        ),
    };
  }
}
