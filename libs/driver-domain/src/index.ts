export * from './driver_domain.js';
export * from './nic_uplink.js';
export * from './domain_switch.js';
export * from './bridge_switch.js';
export * from './ovs_switch.js';
export * from './frame_observer.js';
export * from './emulated_nic.js';
export * from './xmit_offload.js';
