// What every backend of the netif protocol does the same way: map the frontend's two ring
// pages, and judge a TX request once it has been copied out of the shared ring.
import { GNTST_okay } from '@vnetlab/hypervisor';
import { PAGE_SIZE, type MachineMemory } from '@vnetlab/memory';
import {
  BackRing, NETTXF_KNOWN, NETTXF_extra_info, NETTXF_more_data,
  rxRequestCodec, rxResponseCodec, txRequestCodec, txResponseCodec,
  type NetifRxRequest, type NetifRxResponse, type NetifTxRequest, type NetifTxResponse,
} from '@vnetlab/ring';
import { NetbackError } from './errors.js';
import type { HypervisorPort, Priced } from './hypervisor_port.js';
import { machineRingPage } from './machine_ring_page.js';

/** Smallest frame accepted from a guest: an Ethernet header (ETH_HLEN). */
export const ETH_HLEN = 14;

export interface FrontendRings {
  tx: BackRing<NetifTxRequest, NetifTxResponse>;
  rx: BackRing<NetifRxRequest, NetifRxResponse>;
  /** The grant-map handles of the two ring pages, for the unmap at disconnect. */
  handles: number[];
}

/** Maps the frontend's TX and RX ring pages (xenvif_map_frontend_data_rings). */
export async function mapFrontendRings(
  hv: HypervisorPort,
  mem: MachineMemory,
  frontDomid: number,
  txRingRef: number,
  rxRingRef: number,
  tNs: number,
  charge: (t: number, cycles: number, r: Priced) => number,
): Promise<FrontendRings & { tNs: number }> {
  let t = tNs;
  const txMap = await hv.grantMap(frontDomid, txRingRef, false, t);
  t = charge(t, txMap.cycles, txMap);
  if (txMap.status !== GNTST_okay) throw new NetbackError('ring_map_failed', `tx-ring-ref ${txRingRef}: status ${txMap.status}`);
  const rxMap = await hv.grantMap(frontDomid, rxRingRef, false, t);
  t = charge(t, rxMap.cycles, rxMap);
  if (rxMap.status !== GNTST_okay) throw new NetbackError('ring_map_failed', `rx-ring-ref ${rxRingRef}: status ${rxMap.status}`);
  return {
    tx: new BackRing(machineRingPage(mem, txMap.mfn), txRequestCodec, txResponseCodec),
    rx: new BackRing(machineRingPage(mem, rxMap.mfn), rxRequestCodec, rxResponseCodec),
    handles: [txMap.handle, rxMap.handle],
    tNs: t,
  };
}

/** Why a TX request (already copied out of the ring) cannot be served, or undefined. */
export function checkTxRequest(req: NetifTxRequest): string | undefined {
  if (req.flags & ~NETTXF_KNOWN) return 'bad_flags';
  // scatter-gather and extra-info slots need feature-sg / feature-gso, which we never offer
  if (req.flags & (NETTXF_more_data | NETTXF_extra_info)) return 'unsupported_flags';
  if (req.size < ETH_HLEN) return 'runt_frame';
  if (req.offset + req.size > PAGE_SIZE) return 'crosses_page';
  return undefined;
}
