export { RING_PAGE_SIZE, RingError, bufferRingPage, type RingPage, type RingErrorReason } from './ring_page.js';
export {
  REQ_PROD_OFF, REQ_EVENT_OFF, RSP_PROD_OFF, RSP_EVENT_OFF, RING_HEADER_SIZE,
  ringSize, initSharedRing, FrontRing, BackRing, type EntryCodec, type RingOptions,
} from './shared_ring.js';
export * from './netif.js';
