export * from './guest_kernel.js';
export * from './serial.js';
