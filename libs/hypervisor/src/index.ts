export * from './constants.js';
export { HypervisorError, type HypervisorErrorReason } from './errors.js';
export { FrameTable } from './frame_table.js';
export { GRANT_ENTRY_SIZE, GRANT_ENTRIES_PER_FRAME, type GrantEntry } from './grant_entry.js';
export { GrantTableWriter } from './grant_table_writer.js';
export { PortTable, type EvtchnState } from './event_channel.js';
export { type Violation, type ViolationKind } from './violations.js';
export {
  Hypervisor, type DomainInfo, type GrantPtr, type GrantCopyOp, type HypercallResult, type HypervisorOptions,
} from './hypervisor.js';
export * from './charges.js';
