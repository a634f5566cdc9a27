import type { MachineMemory } from '@vnetlab/memory';
import type { RingPage } from '@vnetlab/ring';

/** A shared ring page read in machine memory at the frame a grant map returned. */
export function machineRingPage(mem: MachineMemory, mfn: number): RingPage {
  return {
    read: (offset, length) => mem.read(mfn, offset, length),
    write: (offset, data) => mem.write(mfn, offset, data),
  };
}
