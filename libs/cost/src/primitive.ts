// The primitive operations the lab charges. One entry per operation, never per
// architecture: the differences between architectures emerge from how many of each
// operation an architecture performs.
export const PRIMITIVES = [
  'hypercall',
  'domain_switch',
  'virq',
  'pirq',
  'evtchn_send',
  'grant_copy_op',
  'grant_map',
  'grant_unmap',
  // A grant mapped for the device only (GNTMAP_device_map without GNTMAP_host_map): a bus
  // address for DMA and a pin on the frame, no CPU mapping (Menon et al. 2006's TX without
  // remapping); its unmap needs no TLB flush.
  'grant_map_device',
  'grant_unmap_device',
  'page_flip',
  'copy_byte',
  'checksum_byte',
  'bridge_lookup',
  'netfront_tx',
  'netfront_rx',
  'netback_tx',
  'netback_rx',
  'nic_driver_tx',
  'nic_driver_rx',
  'stack_tx',
  'stack_rx',
  'mmio_write',
  'dma_setup',
  'ring_op',
  // Beyond the contract's list: the trap of an emulated device-register access, and the
  // vswitch's own operations (architecture.md names flow lookup and VXLAN encap).
  'vm_exit',
  'flow_lookup',
  'vxlan_encap',
  // IPv4 forwarding by a kernel with ip_forward on (a router or middlebox VM).
  'ip_forward',
  // Protection for direct device access (seed 001): IOMMU page-table updates by the
  // hypervisor, CDNA's per-buffer validation, and the IOMMU's own table walk (device time).
  'iommu_map',
  'iommu_unmap',
  'iommu_walk',
  'cdna_validate',
  'cdna_complete',
  // The device model of an emulated NIC (qemu in the driver domain) handling one trapped
  // register access: decoding the ioreq and running the register's side effects.
  'device_emulation',
  // Software segmentation (GSO) of a large TCP segment in the driver domain, per output
  // segment, when the NIC cannot segment it (Menon et al. 2006's virtual TSO without TSO in
  // the physical NIC).
  'gso_segment',
  // A data-TLB miss: the page walk for a translation not cached (libs/cost/src/tlb.ts decides
  // which accesses miss; Menon et al. 2006's superpages make most of them hits).
  'tlb_miss',
] as const;

export type Primitive = (typeof PRIMITIVES)[number];

export function isPrimitive(p: unknown): p is Primitive {
  return typeof p === 'string' && (PRIMITIVES as readonly string[]).includes(p);
}

export type CostErrorReason =
  | 'unknown_primitive'
  | 'bad_count'
  | 'bad_cycles'
  | 'bad_time'
  | 'bad_hz'
  | 'bad_row'
  | 'device_time';

/** Bad input to the cost model: an unknown primitive, a negative count, a bad clock... */
export class CostError extends Error {
  constructor(
    readonly reason: CostErrorReason,
    message: string,
  ) {
    super(message);
    this.name = 'CostError';
  }
}

/** A finite number >= 0, or a CostError with `reason`. */
export function checkNonNegative(value: number, reason: CostErrorReason, what: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new CostError(reason, `${what} must be a finite number >= 0, got ${String(value)}`);
  }
  return value;
}
