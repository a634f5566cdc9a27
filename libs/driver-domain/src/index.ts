export * from './driver_domain.js';
