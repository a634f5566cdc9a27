// What the driver domain tells a watcher about each frame while a trace is active: the
// step (netback took it from a guest, the switch decided, the NIC driver queued it, ...),
// when it ended in modelled time, and the primitives it cost. With no watcher, or one that
// is not active, nothing is computed.
import type { Ledger, LedgerRow } from '@vnetlab/cost';
import type { SwitchStep } from './domain_switch.js';

export type FrameStep = 'netback_tx' | 'switch' | 'nic_driver_tx' | 'nic_driver_rx' | 'netback_rx';

export interface FrameCharge { primitive: string; count: number; cycles: number; domain: string }

export interface FrameEvent {
  step: FrameStep;
  /** The frame as this step saw it. */
  bytes: Buffer;
  /** Port it came from (netback_tx, switch) or goes to (netback_rx, nic_driver_tx). */
  port?: string;
  startNs: number;
  tNs: number;
  /** Cycles charged for the step; for a batch, for the whole batch (see `batch`). */
  charges: FrameCharge[];
  /** Frames handled together with this one (a batched grant copy, a NIC interrupt). */
  batch: number;
  detail: string;
  /** The switch's decision, step by step (switch only). */
  switchSteps?: SwitchStep[];
  outputs?: string[];
}

export interface FrameObserver {
  /** Only while true does the driver domain describe frames. */
  readonly active: boolean;
  frame(e: FrameEvent): void;
}

/** What was charged between two snapshots of a ledger. */
export function ledgerDelta(before: LedgerRow[], ledger: Ledger): FrameCharge[] {
  const key = (r: LedgerRow) => `${r.pcpu}|${r.domain}|${r.primitive}`;
  const prev = new Map(before.map((r) => [key(r), r]));
  const out: FrameCharge[] = [];
  for (const r of ledger.snapshot()) {
    const p = prev.get(key(r));
    const cycles = r.cycles - (p?.cycles ?? 0);
    // per-byte primitives count bytes, the others operations
    const count = r.bytes !== undefined ? r.bytes - (p?.bytes ?? 0) : r.ops - (p?.ops ?? 0);
    if (cycles > 0 || count > 0) out.push({ primitive: r.primitive, count, cycles, domain: r.domain });
  }
  return out;
}
