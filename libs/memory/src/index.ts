export { PAGE_SIZE } from './page.js';
export type { MachineMemory } from './machine_memory.js';
export { BufferMachineMemory } from './buffer_machine_memory.js';
export { FileMachineMemory } from './file_machine_memory.js';
export { GuestMemory, INVALID_MFN } from './guest_memory.js';
export { PagePool } from './page_pool.js';
export { MemoryError, type MemoryErrorReason } from './errors.js';
