import type { GuestMemory } from '@vnetlab/memory';
import type { RingPage } from '@vnetlab/ring';

/** A shared ring page seen through the guest's own p2m (the frontend's mapping). */
export function guestRingPage(mem: GuestMemory, gfn: number): RingPage {
  return {
    read: (offset, length) => mem.read(gfn, offset, length),
    write: (offset, data) => mem.write(gfn, offset, data),
  };
}
