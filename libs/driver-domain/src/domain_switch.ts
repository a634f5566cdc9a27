// The switch inside the driver domain, as DriverDomain uses it: the Linux bridge or Open
// vSwitch behind one small interface (as OVS's ofproto sits behind its provider classes).
// The switch decides where a frame goes and what the decision cost; DriverDomain moves the
// bytes, charges the cost on dom0's CPU and hands the frame to a vif or the NIC.
import type { Primitive } from '@vnetlab/cost';

export type SwitchKind = 'bridge' | 'vswitch' | 'router';

/** A port as the driver domain adds it: a guest's vif or the NIC (the uplink). */
export interface SwitchPortSpec {
  name: string;
  kind: 'vif' | 'uplink';
  /** The VXLAN network of a vif (vswitch only); absent = the untunnelled network. */
  vni?: number;
  /** A vif's guest MAC, as the toolstack configured it (the bridge pins it on the port). */
  mac?: string;
  /** A vif's guest IPv4 address (a router names the vif's routes by it). */
  ip?: string;
}

export interface SwitchOutput {
  /** A vif name or the uplink's name (tunnelled frames leave through the uplink). */
  port: string;
  /**
   * The bytes to send: the frame itself, a view into it (a decapsulated inner frame) or a
   * new buffer (an encapsulated frame).
   */
  bytes: Buffer;
  /**
   * Set for a VXLAN-encapsulated copy: the tunnel port it left through and the inner frame
   * (what a capture at the tunnel port shows, as tcpdump on OVS's vxlan_sys_4789 does).
   */
  encap?: { vni: number; remoteIp: string; tunnelPort?: string; inner?: Buffer };
}

/** One step of the switch's decision, for traces (the vswitch's ofproto/trace lines). */
export interface SwitchStep {
  step: string;
  detail: string;
  primitive?: Primitive;
  count?: number;
  flow?: string;
}

export interface SwitchDecision {
  outputs: SwitchOutput[];
  /** Why copies (or the whole frame) went nowhere; the first is the frame's drop reason when there is no output. */
  drops: string[];
  flooded: boolean;
  /** The primitives this decision cost, to be charged on dom0's CPU. */
  charges: Array<[Primitive, number]>;
  steps: SwitchStep[];
  /** vswitch: decided by the exact-match cache. */
  fastPath?: boolean;
  /** vswitch: the frame came in through a tunnel port — its name and the inner frame after decapsulation. */
  tunnelIn?: { port: string; inner: Buffer };
}

export interface DomainSwitch {
  readonly kind: SwitchKind;
  /** A port of the switch's own that the driver domain does not attach (the vswitch's VXLAN port). */
  readonly tunnelPort?: string;
  addPort(p: SwitchPortSpec): void;
  /** Detaches a port (a vif whose guest left): what was learned on it is forgotten. */
  removePort(name: string): void;
  forward(inPort: string, bytes: Buffer, tNs: number): SwitchDecision;
  /** The host's protection switched on or off (a switch with checks of its own follows it). */
  setProtection?(on: boolean): void;
}
