/** Per-vif counters (xenvif's stats in common.h). TX is guest→world, RX world→guest. */
export interface VifStats {
  txPackets: number;
  txBytes: number;
  /** TX requests answered with an error, by reason. */
  txErrors: Record<string, number>;
  rxPackets: number;
  rxBytes: number;
  /** Frames for the guest that were not delivered, by reason. */
  rxDrops: Record<string, number>;
  /** Problems that are not one frame's fault (ring overflow, failed repopulation), by reason. */
  errors: Record<string, number>;
  hypercalls: number;
  /** Offloads the frontend asked for on TX: checksums left blank, GSO packets, and GSO packets
   * sent without NETTXF_csum_blank whose checksum netback takes as partial anyway. */
  offload: { csumBlank: number; gso: number; gsoChecksumFixup: number };
}

export function newVifStats(): VifStats {
  return { txPackets: 0, txBytes: 0, txErrors: {}, rxPackets: 0, rxBytes: 0, rxDrops: {}, errors: {}, hypercalls: 0, offload: { csumBlank: 0, gso: 0, gsoChecksumFixup: 0 } };
}

export function bump(counters: Record<string, number>, reason: string, n = 1): void {
  counters[reason] = (counters[reason] ?? 0) + n;
}
