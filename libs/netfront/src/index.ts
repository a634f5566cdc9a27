export { Netfront, RX_COPY_THRESHOLD, NETIF_MAX_TX_SLOTS, GSO_MAX_FRAME, type TxOffload, type FrontendHypervisorPort, type NetfrontOptions, type NetfrontStats, type TransmitResult, type EventResult, type RxMode } from './netfront.js';
export { NetfrontError, type NetfrontErrorReason } from './errors.js';
export { GrefAllocator, GNTTAB_NR_RESERVED_ENTRIES } from './gref_allocator.js';
export { guestRingPage } from './guest_ring_page.js';
