export * from './driver_domain.js';
export * from './nic_uplink.js';
