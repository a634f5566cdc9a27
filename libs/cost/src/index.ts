export { PRIMITIVES, isPrimitive, CostError, type Primitive, type CostErrorReason } from './primitive.js';
export { DEFAULT_COSTS, REFERENCE_HZ, type CostEntry } from './default_costs.js';
export { CostTable } from './cost_table.js';
export { FifoServer } from './fifo_server.js';
export { Ledger, type LedgerRow } from './ledger.js';
export { Cpu, PhysicalCore, XEN_DOMAIN, type CpuRun } from './cpu.js';
export { costTableMarkdown, costCrossChecks, type CostCrossCheck } from './cost_table_markdown.js';
export * from './serial.js';
export { GapServer } from './gap_server.js';
