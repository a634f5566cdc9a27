// Open vSwitch as the driver domain's switch: its ports are the guests' vifs, the NIC (the
// uplink) and, on a host with an underlay address, one VXLAN tunnel port. Encapsulated
// frames leave through the NIC like any other frame; VXLAN arriving on the NIC for the
// local VTEP is decapsulated and switched in its VNI. The trace's primitives (flow_lookup,
// vxlan_encap) are what the decision cost.
import type { Primitive } from '@vnetlab/cost';
import { VXLAN_OVERHEAD } from '@vnetlab/frames';
import { traceCost, type VSwitch } from '@vnetlab/vswitch';
import type { DomainSwitch, SwitchDecision, SwitchPortSpec } from './domain_switch.js';

/** The local VTEP: the tunnel port's address and the NIC MAC outer frames leave with. */
export interface TunnelSpec {
  port?: string;        // default 'vxlan0'
  localIp: string;
  localMac: string;
  underlayMtu?: number;
  /** The NIC tunnelled frames leave through, when the switch has several; default its first. */
  uplink?: string;
}

export class OvsSwitch implements DomainSwitch {
  readonly kind = 'vswitch' as const;
  private uplink: string | undefined;
  readonly tunnelPort: string | undefined;
  private readonly tunnelUplink: string | undefined;

  constructor(readonly vswitch: VSwitch, tunnel?: TunnelSpec) {
    if (tunnel) {
      this.tunnelPort = tunnel.port ?? 'vxlan0';
      this.tunnelUplink = tunnel.uplink;
      vswitch.addPort({ name: this.tunnelPort, kind: 'vxlan', localIp: tunnel.localIp, localMac: tunnel.localMac, underlayMtu: tunnel.underlayMtu });
    }
  }

  /** A remote VTEP of `vni` behind underlay next hop `mac` (the remote host's NIC). */
  addVtep(vni: number, remoteIp: string, mac: string): void {
    this.vswitch.addVtep(vni, remoteIp, { mac, ...(this.tunnelPort ? { port: this.tunnelPort } : {}) });
  }

  addPort(p: SwitchPortSpec): void {
    if (p.kind === 'uplink' && (this.uplink === undefined || p.name === this.tunnelUplink)) this.uplink = p.name;
    this.vswitch.addPort({ name: p.name, kind: p.kind, ...(p.vni !== undefined ? { vni: p.vni } : {}) });
  }

  removePort(name: string): void {
    this.vswitch.removePort(name);
  }

  forward(inPort: string, bytes: Buffer, tNs: number): SwitchDecision {
    const r = this.vswitch.process(inPort, bytes, tNs);
    const outputs: SwitchDecision['outputs'] = [];
    const drops = r.drops.map((d) => d.reason as string);
    for (const o of r.outputs) {
      if (o.port !== this.tunnelPort) {
        outputs.push({ port: o.port, bytes: o.frame });
      } else if (this.uplink !== undefined) {
        // the tunnel port's packets go out of the host's NIC (the host stack routes them there)
        outputs.push({ port: this.uplink, bytes: o.frame, encap: { vni: o.vni!, remoteIp: o.remoteIp!, tunnelPort: o.port, inner: o.frame.subarray(VXLAN_OVERHEAD) } });
      } else {
        drops.push('no_uplink');
      }
    }
    const cost = traceCost(r.trace);
    const charges = (Object.entries(cost) as Array<[Primitive, number]>).filter(([, n]) => n > 0);
    return {
      outputs,
      drops,
      flooded: r.trace.some((s) => s.step === 'flood'),
      charges,
      steps: r.trace.map((s) => ({ step: s.step, detail: s.detail, ...(s.primitive ? { primitive: s.primitive, count: s.count ?? 1 } : {}), ...(s.flow ? { flow: s.flow } : {}) })),
      fastPath: r.fastPath,
      ...(r.decap ? { tunnelIn: { port: r.decap.port, inner: r.decap.inner } } : {}),
    };
  }
}
