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
}

export function newVifStats(): VifStats {
  return { txPackets: 0, txBytes: 0, txErrors: {}, rxPackets: 0, rxBytes: 0, rxDrops: {}, errors: {}, hypercalls: 0 };
}

export function bump(counters: Record<string, number>, reason: string, n = 1): void {
  counters[reason] = (counters[reason] ?? 0) + n;
}
