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
export {
  Iommu, encodeIommuPte, decodeIommuPte, IOMMU_PTE_P, IOMMU_PTE_R, IOMMU_PTE_W, IOMMU_PTE_SIZE,
  IOMMU_ENTRIES_PER_TABLE, IOMMU_LEVEL_BITS, IOMMU_GFN_LIMIT,
  type IommuPerms, type IommuPte, type IotlbInvalidation, type IommuResult, type IommuContextInfo,
} from './iommu.js';
export {
  CDNA_DESC_SIZE, CDNA_DESC_EOP, CDNA_DESC_DD, CDNA_DESC_ERR, CDNA_MAX_RING_SIZE,
  type CdnaRing, type CdnaBuffer, type CdnaQueueSetInfo, type CdnaEnqueueResult, type CdnaCompletedBuffer, type CdnaCompleteResult,
} from './cdna.js';
export { type HypervisorCore } from './hypervisor_core.js';
export { NotificationLimit, EVTCHN_WINDOW_NS, EVTCHN_BURST, type Admission } from './notification_limit.js';
export {
  PreCopy, PageReceiver, targetDomain, domainMemoryHash, MIGRATION_PAGE_WIRE_BYTES,
  type PageBatch, type MigrationPhase, type RoundReport, type StopReason, type PreCopyOptions, type P2mSource, type TargetDomain,
} from './migration.js';
