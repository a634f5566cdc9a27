export * from './hypervisor_service.js';
