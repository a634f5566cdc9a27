// What a hypercall costs, as primitive operations: the hypervisor's logic and the caller's
// ledger use the same list, so the ledger keeps the breakdown (a grant copy is one trap,
// n grant-copy ops and the bytes copied), not one opaque number.
import type { CostTable, Primitive } from '@vnetlab/cost';

export type Charges = Array<[Primitive, number]>;

export const charges = {
  grantCopy: (ops: number, bytes: number): Charges => [['hypercall', 1], ['grant_copy_op', ops], ...(bytes > 0 ? [['copy_byte', bytes] as [Primitive, number]] : [])],
  grantMap: (): Charges => [['hypercall', 1], ['grant_map', 1]],
  grantUnmap: (): Charges => [['hypercall', 1], ['grant_unmap', 1]],
  grantMapBatch: (n: number): Charges => [['hypercall', 1], ['grant_map', n]],
  grantUnmapBatch: (n: number): Charges => [['hypercall', 1], ['grant_unmap', n]],
  grantTransfer: (): Charges => [['hypercall', 1], ['page_flip', 1]],
  evtchnSend: (): Charges => [['hypercall', 1], ['evtchn_send', 1]],
  plain: (): Charges => [['hypercall', 1]],
  pirq: (): Charges => [['pirq', 1]],
  iommuMap: (pages: number): Charges => [['hypercall', 1], ['iommu_map', pages]],
  iommuUnmap: (pages: number): Charges => [['hypercall', 1], ['iommu_unmap', pages]],
  /** CDNA enqueue: every buffer examined is validated, accepted or not. */
  cdnaEnqueue: (buffers: number): Charges => [['hypercall', 1], ['cdna_validate', buffers]],
  cdnaComplete: (buffers: number): Charges => [['hypercall', 1], ['cdna_complete', buffers]],
};

export function price(costs: CostTable, c: Charges): number {
  return c.reduce((sum, [p, n]) => sum + costs.cycles(p, n), 0);
}
