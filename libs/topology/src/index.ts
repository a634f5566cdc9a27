export { parseTopology, loadTopology } from './topology.js';
export { TopologyError, formatPath, formatProblem, type TopologyProblem, type PathSegment } from './topology_error.js';
export { topologySchema, TOPOLOGY_SCHEMA_PATH } from './topology_schema.js';
export { topologySummary } from './topology_summary.js';
export { DEFAULT_LATENCY_NS, DEFAULT_UNDERLAY_MTU, DEFAULT_DRIVER_DOMAIN, XEN_OUI, NIC_MAC_PREFIX } from './topology_defaults.js';
export {
  parseEndpoint,
  type Topology, type Host, type Guest, type GuestInterface, type Nic, type Link, type LinkEndpoint,
  type DriverDomain, type RouteSpec, type Underlay, type GuestArch, type RxMode, type TxMode, type SwitchKind, type Offload,
} from './types.js';
export * from './lab_layout.js';
