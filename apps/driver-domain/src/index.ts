export * from './driver_domain_service.js';
