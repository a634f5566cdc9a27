// Fault injection from the operator: fail or repair a NIC (its link goes down or up), cut or
// mend a fabric link (the NICs at its ends lose or regain carrier).
import * as grpc from '@grpc/grpc-js';
import type { NatsConnection } from '@nats-io/transport-node';
import { eth, fault, pcie, subjects } from '@vnetlab/proto';
import type { Topology } from '@vnetlab/topology';
import type { EvacuationRecord } from './evacuation.js';

/** Starts a service's process again; given by the controller that launched it. */
export type Restarter = (service: string) => Promise<fault.RestartResponse>;

/** The toolstack's evacuations of guests off failed NICs, when it makes them. */
export interface EvacuationSource {
  autoMigrate: boolean;
  records: EvacuationRecord[];
}

export class FaultService {
  constructor(
    private readonly topo: Topology,
    private readonly nc: () => NatsConnection,
    private readonly restarter?: Restarter,
    private readonly evacuations?: EvacuationSource,
  ) {}

  async setNic(r: fault.SetNicRequest): Promise<fault.SetNicResponse> {
    const host = this.topo.hosts.find((h) => h.name === r.host);
    if (!host) throw new Error(`no host "${r.host}" (hosts: ${this.topo.hosts.map((h) => h.name).join(', ')})`);
    if (!host.nics.some((n) => n.name === r.nic)) throw new Error(`no NIC "${r.nic}" on ${r.host} (NICs: ${host.nics.map((n) => n.name).join(', ')})`);
    // the NIC's own answer: its link state once the fault is applied (a heartbeat on its link
    // subject may carry the state from before)
    const m = await this.nc()
      .request(subjects.nicFault(r.host, r.nic), pcie.NicFault.encode({ nic: r.nic, fail: r.fail, carrier: false }).finish(), { timeout: 5000 })
      .catch(() => {
        throw new Error(`${r.host}/${r.nic} did not report its link within 5 s`);
      });
    return { up: pcie.LinkState.decode(m.data).up };
  }

  async setLink(r: fault.SetLinkRequest): Promise<fault.SetLinkResponse> {
    const link = this.topo.links.find((l) => l.name === r.link || l.ends.includes(r.link));
    if (!link) throw new Error(`no link "${r.link}" (links: ${this.topo.links.map((l) => `${l.name} [${l.ends.join(', ')}]`).join('; ')})`);
    // wait for every end's own word that its carrier changed
    const ends = link.ends.map((e) => e.split('/') as [string, string]);
    const subs = ends.map(([h, n]) => this.nc().subscribe(subjects.nicLink(h, n)));
    const msg = await this.nc().request(subjects.linkFault(), eth.LinkFault.encode({ link: link.name, loss: link.loss, cut: r.cut }).finish(), { timeout: 5000 });
    const res = eth.LinkFaultResult.decode(msg.data);
    if (res.error) {
      for (const s of subs) s.unsubscribe();
      throw new Error(res.error);
    }
    // the state the cut or mend gives (a heartbeat sent before it still carries the old one);
    // a NIC that stays down after a mend (its device failed) is reported as it last said
    const endsUp = await Promise.all(
      subs.map(async (sub, i) => {
        const timer = setTimeout(() => sub.unsubscribe(), 5000);
        let last: boolean | undefined;
        for await (const m of sub) {
          last = pcie.LinkState.decode(m.data).up;
          if (last === !r.cut) break;
        }
        clearTimeout(timer);
        sub.unsubscribe();
        if (last === undefined) throw new Error(`${ends[i]!.join('/')} did not report its link within 5 s`);
        return last;
      }),
    );
    return { link: link.name, ends: [...link.ends], endsUp };
  }

  impl(): fault.FaultsServer {
    return {
      evacuations: (_call, cb) =>
        cb(null, {
          autoMigrate: this.evacuations?.autoMigrate ?? false,
          evacuations: (this.evacuations?.records ?? []).map((r) => ({
            guest: r.guest, fromHost: r.fromHost, toHost: r.toHost, nic: r.nic, error: r.error ?? '', done: r.report !== undefined || r.error !== undefined,
            ...(r.report ? { report: r.report } : {}),
          })),
        }),
      restart: (call, cb) =>
        void (this.restarter ? this.restarter(call.request.service) : Promise.reject(new Error('this lab cannot restart services'))).then(
          (res) => cb(null, res),
          (e) => cb({ code: grpc.status.FAILED_PRECONDITION, details: (e as Error).message } as grpc.ServiceError, null),
        ),
      setLink: (call, cb) =>
        void this.setLink(call.request).then(
          (res) => cb(null, res),
          (e) => cb({ code: grpc.status.FAILED_PRECONDITION, details: (e as Error).message } as grpc.ServiceError, null),
        ),
      setNic: (call, cb) =>
        void this.setNic(call.request).then(
          (res) => cb(null, res),
          (e) => cb({ code: grpc.status.FAILED_PRECONDITION, details: (e as Error).message } as grpc.ServiceError, null),
        ),
    };
  }
}
