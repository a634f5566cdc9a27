export * from './nic_service.js';
