export * from './guest_service.js';
