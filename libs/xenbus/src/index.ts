export * from './store.js';
export * from './xenbus.js';
