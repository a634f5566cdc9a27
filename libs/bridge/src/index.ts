export {
  Bridge, DEFAULT_AGEING_NS, DEFAULT_MAX_FDB_ENTRIES,
  type BridgeOptions, type BridgeDropReason, type BridgeStats, type ForwardResult, type PortStats,
} from './bridge.js';
export { ForwardingDatabase, type FdbEntry, type LearnResult } from './fdb.js';
export { BridgeError, type BridgeErrorReason } from './bridge_error.js';
