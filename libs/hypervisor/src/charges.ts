// What a hypercall costs, as primitive operations: the hypervisor's logic and the caller's
// ledger use the same list, so the ledger keeps the breakdown (a grant copy is one trap,
// n grant-copy ops and the bytes copied), not one opaque number.
import type { CostTable, Primitive } from '@vnetlab/cost';

export type Charges = Array<[Primitive, number]>;

export const charges = {
  grantCopy: (ops: number, bytes: number): Charges => [['hypercall', 1], ['grant_copy_op', ops], ...(bytes > 0 ? [['copy_byte', bytes] as [Primitive, number]] : [])],
  grantMap: (): Charges => [['hypercall', 1], ['grant_map', 1]],
  grantUnmap: (): Charges => [['hypercall', 1], ['grant_unmap', 1]],
  grantMapDevice: (): Charges => [['hypercall', 1], ['grant_map_device', 1]],
  grantUnmapDevice: (): Charges => [['hypercall', 1], ['grant_unmap_device', 1]],
  /** `device` of the `n` ops are device-only maps (no host mapping). */
  grantMapBatch: (n: number, device = 0): Charges => [['hypercall', 1], ...kinds('grant_map', n - device, 'grant_map_device', device)],
  grantUnmapBatch: (n: number, device = 0): Charges => [['hypercall', 1], ...kinds('grant_unmap', n - device, 'grant_unmap_device', device)],
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

/** Host-mapping and device-only ops of one batch, each kind present only when counted. */
function kinds(host: Primitive, nHost: number, dev: Primitive, nDev: number): Charges {
  const out: Charges = [];
  if (nHost > 0 || nDev === 0) out.push([host, nHost]);
  if (nDev > 0) out.push([dev, nDev]);
  return out;
}

export function price(costs: CostTable, c: Charges): number {
  return c.reduce((sum, [p, n]) => sum + costs.cycles(p, n), 0);
}
