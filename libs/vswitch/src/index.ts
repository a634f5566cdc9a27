export {
  VSwitch, DEFAULT_AGEING_NS, DEFAULT_MAX_MAC_ENTRIES, DEFAULT_UNDERLAY_MTU, NO_VNI, MAX_VNI,
  type VSwitchOptions, type SwitchOutput, type SwitchDrop, type ProcessResult, type FlowStats, type VSwitchStats,
} from './vswitch.js';
export { type PortKind, type PortConfig, type PortCounters, type PortInfo, type DropReason } from './port.js';
export { DEFAULT_PRIORITY, type FlowMatch, type FlowAction, type FlowSpec, type MacMatch, type IpPrefix } from './flow.js';
export { parseFlow, parseMatch, formatFlow, formatMatch, formatActions, type ParsedMatch } from './flow_syntax.js';
export { FlowTable, type FlowEntry, type FlowLookup } from './flow_table.js';
export { FlowCache, DEFAULT_CACHE_ENTRIES, type CachedDecision, type DatapathAction, type FlowCacheStats } from './flow_cache.js';
export { extractFlowKey, type FlowKey } from './flow_key.js';
export { MacTable, type MacEntry, type MacLearnResult } from './mac_table.js';
export { VtepTable, type RemoteVtep } from './vtep.js';
export { traceCost, formatTrace, type TraceStep, type TraceStepKind, type VswitchPrimitive } from './trace.js';
export { VswitchError, FlowSyntaxError, type VswitchErrorReason } from './vswitch_error.js';
