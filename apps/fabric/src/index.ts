export * from './fabric_service.js';
