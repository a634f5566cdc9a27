// The conservation rule, counted: for every flow, sent = delivered + Σ drops(reason) + in flight.
// Each component counts what it sees (a guest its sent and delivered frames, every component
// its drops with a reason); adding the tables of all components gives the rule for the lab.

export interface FlowCount {
  flow: string;
  sentFrames: number;
  sentBytes: number;
  deliveredFrames: number;
  deliveredBytes: number;
  drops: Record<string, number>;
  /** Modelled times of the first and last frame sent / delivered (absent until one is). */
  firstSentNs?: number;
  lastSentNs?: number;
  firstDeliveredNs?: number;
  lastDeliveredNs?: number;
}

export class FlowCounters {
  private readonly flows = new Map<string, FlowCount>();

  private get(flow: string): FlowCount {
    let f = this.flows.get(flow);
    if (!f) {
      f = { flow, sentFrames: 0, sentBytes: 0, deliveredFrames: 0, deliveredBytes: 0, drops: {} };
      this.flows.set(flow, f);
    }
    return f;
  }

  sent(flow: string, bytes: number, tNs?: number): void {
    const f = this.get(flow);
    f.sentFrames++;
    f.sentBytes += bytes;
    if (tNs !== undefined) {
      f.firstSentNs = Math.min(f.firstSentNs ?? tNs, tNs);
      f.lastSentNs = Math.max(f.lastSentNs ?? 0, tNs);
    }
  }

  delivered(flow: string, bytes: number, tNs?: number): void {
    const f = this.get(flow);
    f.deliveredFrames++;
    f.deliveredBytes += bytes;
    if (tNs !== undefined) {
      f.firstDeliveredNs = Math.min(f.firstDeliveredNs ?? tNs, tNs);
      f.lastDeliveredNs = Math.max(f.lastDeliveredNs ?? 0, tNs);
    }
  }

  dropped(flow: string, reason: string, n = 1): void {
    const f = this.get(flow);
    f.drops[reason] = (f.drops[reason] ?? 0) + n;
  }

  snapshot(): FlowCount[] {
    return [...this.flows.values()].map((f) => ({ ...f, drops: { ...f.drops } }));
  }
}

export interface FlowBalance extends FlowCount {
  dropped: number;
  inFlight: number;
}

/** Adds the counts that several components hold for the same flows. */
export function mergeFlowCounts(parts: FlowCount[][]): FlowCount[] {
  const out = new Map<string, FlowCount>();
  for (const part of parts)
    for (const f of part) {
      const m = out.get(f.flow) ?? { flow: f.flow, sentFrames: 0, sentBytes: 0, deliveredFrames: 0, deliveredBytes: 0, drops: {} };
      m.sentFrames += f.sentFrames;
      m.sentBytes += f.sentBytes;
      m.deliveredFrames += f.deliveredFrames;
      m.deliveredBytes += f.deliveredBytes;
      for (const [r, n] of Object.entries(f.drops)) m.drops[r] = (m.drops[r] ?? 0) + n;
      m.firstSentNs = minDefined(m.firstSentNs, f.firstSentNs);
      m.lastSentNs = maxDefined(m.lastSentNs, f.lastSentNs);
      m.firstDeliveredNs = minDefined(m.firstDeliveredNs, f.firstDeliveredNs);
      m.lastDeliveredNs = maxDefined(m.lastDeliveredNs, f.lastDeliveredNs);
      out.set(f.flow, m);
    }
  return [...out.values()];
}

/** in flight = sent − delivered − Σ drops; negative means something was counted twice. */
export function balance(f: FlowCount): FlowBalance {
  const dropped = Object.values(f.drops).reduce((a, b) => a + b, 0);
  return { ...f, dropped, inFlight: f.sentFrames - f.deliveredFrames - dropped };
}

// 0 stands for "none" on the wire (proto3 has no absent uint64)
const minDefined = (a?: number, b?: number) => (a === undefined || a === 0 ? b : b === undefined || b === 0 ? a : Math.min(a, b));
const maxDefined = (a?: number, b?: number) => (a === undefined ? b : b === undefined ? a : Math.max(a, b));
