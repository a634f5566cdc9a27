import type { CostTable } from '@vnetlab/cost';
import type { MachineMemory } from '@vnetlab/memory';
import type { FrameTable } from './frame_table.js';
import type { ViolationKind } from './violations.js';

/**
 * What the hypervisor's parts beyond grants and events (the IOMMU, CDNA validation) share
 * with it: the same memory, frame table, costs, protection switch and violation log, so
 * that a refusal anywhere is counted in one place.
 */
export interface HypervisorCore {
  readonly mem: MachineMemory;
  readonly costs: CostTable;
  readonly frameTable: FrameTable;
  protection(): boolean;
  /** Records a refused request of `domid` and returns `status`. */
  refuse(domid: number, status: number, kind: ViolationKind, detail: string): number;
  /** The domain's p2m (live, read only), or undefined if there is no such domain. */
  p2m(domid: number): readonly number[] | undefined;
}
