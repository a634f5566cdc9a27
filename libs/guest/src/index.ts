export * from './guest_kernel.js';

