// The driver domain's fault agent (seed 004): it watches each NIC of dom0's — the NIC's own
// word on its link subject, and the heartbeat the NIC repeats there — and decides when a NIC
// has failed (its link went down, or it fell silent: a dead device says nothing) and when it
// is back. Plain logic: the owner feeds it link reports and clock ticks and carries out what
// it decides (hold the I/O, tell the hypervisor, redirect, restore).

export type FailReason = 'link_down' | 'heartbeats_missed';

export interface FaultDecision {
  nic: string;
  kind: 'failed' | 'recovered';
  reason: FailReason | 'link_up';
}

export interface FaultAgentOptions {
  /** How often a healthy NIC repeats its link state (wall ms). */
  heartbeatMs: number;
  /** Heartbeats missed in a row before the NIC counts as failed. */
  missed: number;
}

export const DEFAULT_FAULT_AGENT: FaultAgentOptions = { heartbeatMs: 1000, missed: 3 };

interface Watched {
  lastHeardMs: number;
  failed?: FailReason;
}

export class FaultAgent {
  private readonly nics = new Map<string, Watched>();
  private lastTickMs: number;

  constructor(nics: string[], nowMs: number, private readonly o: FaultAgentOptions = DEFAULT_FAULT_AGENT) {
    if (!(o.heartbeatMs > 0) || !Number.isInteger(o.missed) || o.missed < 1) throw new Error('fault agent: heartbeatMs must be > 0 and missed an integer >= 1');
    for (const n of nics) this.nics.set(n, { lastHeardMs: nowMs });
    this.lastTickMs = nowMs;
  }

  /** The NIC said its link is up or down (a change, or a heartbeat). */
  report(nic: string, up: boolean, nowMs: number): FaultDecision[] {
    const w = this.nics.get(nic);
    if (!w) return [];
    w.lastHeardMs = nowMs;
    if (!up && w.failed !== 'link_down') {
      const was = w.failed;
      w.failed = 'link_down';
      // a silent NIC that speaks again only to say its link is down is still the same failure
      return was ? [] : [{ nic, kind: 'failed', reason: 'link_down' }];
    }
    if (up && w.failed) {
      w.failed = undefined;
      return [{ nic, kind: 'recovered', reason: 'link_up' }];
    }
    return [];
  }

  /** The clock moved: a NIC silent for `missed` heartbeats has failed. */
  tick(nowMs: number): FaultDecision[] {
    // A tick long after the last one means the agent itself was frozen: the heartbeats sent
    // meanwhile wait unread (timers run before pending I/O), so this tick judges nobody; the
    // next one, after they are read, does. A merely slow agent still judges every tick.
    const frozen = nowMs - this.lastTickMs > (this.o.heartbeatMs * this.o.missed) / 2;
    this.lastTickMs = nowMs;
    if (frozen) return [];
    const out: FaultDecision[] = [];
    for (const [nic, w] of this.nics) {
      if (w.failed) continue;
      if (nowMs - w.lastHeardMs > this.o.heartbeatMs * this.o.missed) {
        w.failed = 'heartbeats_missed';
        out.push({ nic, kind: 'failed', reason: 'heartbeats_missed' });
      }
    }
    return out;
  }

  failed(nic: string): FailReason | undefined {
    return this.nics.get(nic)?.failed;
  }

  watched(): string[] {
    return [...this.nics.keys()];
  }
}
