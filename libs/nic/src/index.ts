export {
  DESC_SIZE,
  DESC_EOP,
  DESC_TX_CSUM,
  DESC_TX_TSO,
  DESC_MSS_OFFSET,
  DESC_DD,
  DESC_ERR,
  DESC_DONE_NS_OFFSET,
  DESC_STATUS_OFFSET,
  type Descriptor,
  type DescriptorWriteback,
  encodeDescriptor,
  decodeDescriptor,
  encodeWriteback,
  decodeWriteback,
} from './descriptor.js';
export { type DmaPort, DmaFault, type DmaMachineMemory, machineMemoryDma } from './dma_port.js';
export { NicError, type NicErrorReason } from './nic_error.js';
export {
  Nic,
  wireTimeNs,
  ETH_WIRE_OVERHEAD,
  ETH_FCS,
  ETH_MIN_FRAME,
  MAX_QUEUE_SETS,
  RX_HOLD_LIMIT,
  TSO_MAX_FRAME,
  type NicOptions,
  type NicDropReason,
  type QueueSetConfig,
  type QueueSetCounters,
  type WireFrame,
  type TxResult,
  type RxResult,
  type NicInterrupt,
} from './nic.js';
export { NicDriver, type NicDriverOptions, type RingSetup, type TransmitResult, type InterruptResult } from './nic_driver.js';
export { QueueSetDriver, type RingPages, type PostedBuffer, type Completion } from './queue_set_driver.js';
export { iommuDma, IommuFault, type IommuFaultKind, type IommuDmaPort, type IommuDmaOptions, type IotlbStats } from './iommu_dma.js';
export { E1000 } from './registers.js';
