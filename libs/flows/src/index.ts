export * from './flow_key.js';
export * from './flow_counters.js';
export * from './flow_journal.js';
