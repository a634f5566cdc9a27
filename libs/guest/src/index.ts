export * from './guest_kernel.js';

export * from './direct_nic.js';
export * from './tx_offload.js';
export * from './migratable_nic.js';
