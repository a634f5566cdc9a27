// The switch's ports (an OVS bridge's interfaces) and what each counts.
import type { Ip, Mac } from '@vnetlab/frames';

/**
 * vif: a guest's interface (netback's vif) · uplink: the physical NIC · vxlan: a tunnel port
 * with a local VTEP address · internal: the host's own interface on the switch.
 */
export type PortKind = 'vif' | 'uplink' | 'vxlan' | 'internal';

export interface PortConfig {
  name: string;
  kind: PortKind;
  /** vif/uplink/internal: the VNI (bridge domain) the port belongs to; absent = untunnelled domain 0. */
  vni?: number;
  // vxlan ports only:
  localIp?: Ip;           // the local VTEP address (outer source IP)
  localMac?: Mac;         // the underlay interface's MAC (outer source MAC)
  nextHopMac?: Mac;       // default outer destination MAC for remote VTEPs configured without one
  underlayMtu?: number;   // IP MTU of the underlay, default 1500: inner IP packet + 50 must fit
  ttl?: number;           // outer TTL, default 64
  udpChecksum?: boolean;  // default false (RFC 7348: zero UDP checksum over IPv4)
  udpPort?: number;       // default 4789
}

export type DropReason =
  | 'unknown_port'     // received on, or sent to, a port that is not on the switch
  | 'malformed'        // shorter than an Ethernet header, or an outer packet that does not parse
  | 'not_vxlan'        // a frame on a tunnel port that is not VXLAN
  | 'bad_vxlan_flags'  // VXLAN header without the I flag
  | 'not_local_vtep'   // VXLAN to an address that is not this tunnel port's VTEP
  | 'unknown_vni'      // VXLAN for a VNI this switch does not serve
  | 'unknown_vtep'     // VXLAN from an address that is not a configured remote VTEP of the VNI
  | 'no_match'         // no flow matched (table miss)
  | 'flow_drop'        // the matching flow's actions are drop
  | 'bad_source_mac'   // NORMAL refuses a multicast or zero source MAC
  | 'same_port'        // the destination is behind the port the frame came in on
  | 'no_vni'           // output to a tunnel port of a frame in no VNI
  | 'no_vtep'          // output to a tunnel port for a VNI with no remote VTEP
  | 'underlay_mtu'     // the encapsulated packet would exceed the underlay MTU
  | 'no_destination';  // the actions sent the frame nowhere (e.g. flooding with no other port)

export interface PortCounters {
  rxFrames: number; rxBytes: number;
  txFrames: number; txBytes: number;   // on a tunnel port: outer (encapsulated) frames and bytes
  drops: Partial<Record<DropReason, number>>;
}

export interface PortInfo extends PortConfig { counters: PortCounters }
