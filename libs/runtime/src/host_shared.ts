// What the services of one host share when they run in one process (the "host process"
// mode): the host's machine memory and its physical cores. Every NATS and gRPC boundary
// between the services stays; only the hardware they model is shared, as on one machine.
import type { PhysicalCore } from '@vnetlab/cost';
import type { MachineMemory } from '@vnetlab/memory';

export interface HostShared {
  /** The host's machine memory (otherwise each service opens the shared file). */
  mem?: MachineMemory;
  /** The host's physical core by name ("cpu1"), shared by every domain placed on it. */
  core?: (pcpu: string) => PhysicalCore;
  /** Let the service stop the process on SIGTERM (default true; a host process stops them all itself). */
  handleSignals?: boolean;
}
