// The normalized lab: every default filled in, every number a number. Field names are the
// topology file's own (snake_case), so a reader can map the object to the file one to one.

/** How a guest interface reaches the network (the I/O architectures the lab compares). */
export type GuestArch = 'emulated' | 'pv' | 'multiqueue' | 'cdna' | 'passthrough' | 'native';
/** How a pv backend delivers received frames: grant copy or page flip. */
export type RxMode = 'copy' | 'flip';
/**
 * How a pv backend takes transmitted frames: grant copy of every byte (modern Xen), grant
 * map with a host mapping (Xen 2.0/3.0, Menon et al. 2006's baseline), or the header copied
 * and the rest mapped for the NIC alone (Menon's TX without remapping).
 */
export type TxMode = 'copy' | 'map' | 'noremap';
export type SwitchKind = 'bridge' | 'vswitch' | 'router';

/** Transmit offloads: TCP/UDP checksum insertion and TCP segmentation (TSO). */
export interface Offload {
  csum: boolean;        // default false
  tso: boolean;         // default false
}

export interface Nic {
  name: string;
  rate_bps: number;
  queue_sets: number;   // default 1
  mac: string;          // generated when omitted
  offload: Offload;     // what the NIC does on transmit; default neither
  /** dom0's switch this NIC is a port of; NICs naming the same one share it. Default: a switch of its own (xenbr per NIC). */
  bridge: string;
  /**
   * SR-IOV: the NIC exposes virtual functions. Each passthrough interface on it gets one (a
   * queue set of its own behind its own IOMMU context) and the physical function stays the
   * driver domain's; without it a passthrough interface takes the whole NIC. Default false.
   */
  sriov: boolean;
}

export interface GuestInterface {
  arch: GuestArch;
  mac: string;          // generated when omitted (Xen's 00:16:3e prefix)
  ip: string;           // generated when omitted
  rx_mode: RxMode;      // default copy
  tx_mode: TxMode;      // default copy (pv only)
  nic?: string;         // the host NIC it uses; defaults to the host's first NIC, absent on a host without NICs
  vni?: number;         // the VXLAN network it belongs to (a vswitch host with an underlay); absent = untunnelled
  offload: Offload;     // pv's virtual offloads (checksum, TSO); default neither
}

export interface Guest {
  name: string;
  memory_mib: number;
  vcpus: number[];      // physical CPU of each vCPU
  interfaces: GuestInterface[];
  /** The guest's kernel forwards IPv4 packets not addressed to it (net.ipv4.ip_forward=1); default false. */
  ip_forward: boolean;
  /** Its kernel maps memory with 4 MB superpages (default false; true for a native host). */
  superpages: boolean;
}

export interface DriverDomain {
  cpus: number[];       // default [0]
  memory_mib: number;   // default 64
  switch: SwitchKind;   // default bridge
  /** switch: router only: its routes (default: a host route to every guest it reaches, see routerRoutes). */
  routes?: RouteSpec[];
  /** Its kernel maps memory with 4 MB superpages; default false. */
  superpages: boolean;
  /** Its own address on its first NIC's bridge: an endpoint of the lab's traffic. */
  ip?: string;
}

/** A route of a routing driver domain: to dst (or 'default') out of dev (a NIC of the host, or a guest's vif by the guest's name). */
export interface RouteSpec {
  dst: string;
  dev: string;
  /** Next hop's IPv4 address (a guest of the lab); absent: dst itself. */
  via?: string;
  /** Only for frames that came in on this port (a NIC or a guest's name). */
  iif?: string;
}

export interface Host {
  name: string;
  cpus: { count: number; hz: number };
  memory_mib: number;
  driver_domain: DriverDomain;
  nics: Nic[];
  guests: Guest[];
  underlay?: Underlay;  // the host's VTEP on the fabric, when it terminates VXLAN
}

export interface Underlay {
  ip: string;           // the VTEP address: outer source of the host's tunnels
  mtu: number;          // IP MTU of the underlay, default 1500
}

export interface Link {
  name: string;         // default "link<i>" (its index in the file)
  /** Every NIC the link joins: two for a cable, two or more for an L2 segment. */
  ends: string[];
  /** 'cable' when the file gave a and b, 'segment' when it gave ends (forwarding by destination MAC). */
  form: 'cable' | 'segment';
  a: string;            // the first two ends ("host/nic"): the whole link for a cable
  b: string;
  rate_bps: number;     // default: the slower of the two NICs
  latency_ns: number;   // default 50 µs
  loss: number;         // default 0
}

export interface Topology {
  name: string;
  hosts: Host[];
  links: Link[];
}

export interface LinkEndpoint { host: string; nic: string }

/** Splits "host-a/eth0" into its host and NIC names. */
export function parseEndpoint(endpoint: string): LinkEndpoint {
  const slash = endpoint.indexOf('/');
  return { host: endpoint.slice(0, slash), nic: endpoint.slice(slash + 1) };
}
