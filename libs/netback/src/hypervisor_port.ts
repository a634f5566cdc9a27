import type { GrantCopyOp, HypercallResult } from '@vnetlab/hypervisor';

/** The hypercalls a backend needs; the app binds them to gRPC (tests call a Hypervisor). */
export interface HypervisorPort {
  grantCopy(ops: GrantCopyOp[], tNs: number): Promise<HypercallResult[]>;
  grantMap(granter: number, gref: number, readonly: boolean, tNs: number): Promise<{ status: number; mfn: number; handle: number; cycles: number }>;
  grantTransfer(gfn: number, toDomid: number, gref: number, tNs: number): Promise<HypercallResult>;
  populatePhysmap(gfn: number, tNs: number): Promise<{ status: number; mfn: number; cycles: number }>;
}
