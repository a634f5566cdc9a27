import type { Charges, GrantCopyOp, HypercallResult } from '@vnetlab/hypervisor';

/** A hypercall's outcome may say what its cycles are made of, primitive by primitive. */
export type Priced = { charges?: Charges };

/** The hypercalls a backend needs; the app binds them to gRPC (tests call a Hypervisor). */
export interface HypervisorPort {
  grantCopy(ops: GrantCopyOp[], tNs: number): Promise<Array<HypercallResult & Priced>>;
  grantMap(granter: number, gref: number, readonly: boolean, tNs: number): Promise<{ status: number; mfn: number; handle: number; cycles: number } & Priced>;
  grantTransfer(gfn: number, toDomid: number, gref: number, tNs: number): Promise<HypercallResult & Priced>;
  populatePhysmap(gfn: number, tNs: number): Promise<{ status: number; mfn: number; cycles: number } & Priced>;
  /**
   * Several grant maps in one hypercall (TX without copy): `deviceOnly` asks for a bus address
   * and a pin without a host mapping (GNTMAP_device_map alone).
   */
  grantMapBatch?(ops: Array<{ granter: number; gref: number; readonly: boolean; deviceOnly?: boolean }>, tNs: number): Promise<Array<{ status: number; mfn: number; handle: number; cycles: number } & Priced>>;
  /** Several grant unmaps in one hypercall (the ring pages at disconnect, mapped TX buffers). */
  grantUnmapBatch?(handles: number[], tNs: number): Promise<Array<HypercallResult & Priced>>;
}
