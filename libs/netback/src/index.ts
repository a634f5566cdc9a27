export { Netback, TX_COPY_LEN, UNCHECKED_TX_RINGS, type NetbackOptions, type TxEventResult, type DeliverResult, type RxMode, type TxMode } from './netback.js';
export type { HypervisorPort } from './hypervisor_port.js';
export { NetbackError, type NetbackErrorReason } from './errors.js';
export { machineRingPage } from './machine_ring_page.js';
export { newVifStats, type VifStats } from './vif_stats.js';
export { ETH_HLEN, checkTxRequest, mapFrontendRings, type FrontendRings } from './frontend_rings.js';
export { MultiqueueBackend, type MultiqueueBackendOptions, type BatchGrantPort, type MqCookie, type MqResult } from './multiqueue_backend.js';
export { parseTxPackets, XEN_NETBK_LEGACY_SLOTS_MAX, type TxFeatures, type TxPacket } from './tx_packets.js';
