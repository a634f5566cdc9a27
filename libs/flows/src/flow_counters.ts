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

/** One count, as FlowCounters takes it: sent or delivered (flow, bytes, time), dropped (flow, reason, frames), or a whole flow's totals. */
export type FlowOp =
  | ['s', string, number, number?]
  | ['d', string, number, number?]
  | ['x', string, string, number]
  | ['=', FlowCount];

export class FlowCounters {
  private readonly flows = new Map<string, FlowCount>();

  /** `sink` is told every count as it happens (a FlowJournal keeps them past the process). */
  constructor(private readonly sink?: (op: FlowOp) => void) {}

  private get(flow: string): FlowCount {
    let f = this.flows.get(flow);
    if (!f) {
      f = { flow, sentFrames: 0, sentBytes: 0, deliveredFrames: 0, deliveredBytes: 0, drops: {} };
      this.flows.set(flow, f);
    }
    return f;
  }

  sent(flow: string, bytes: number, tNs?: number): void {
    this.sink?.(tNs === undefined ? ['s', flow, bytes] : ['s', flow, bytes, tNs]);
    const f = this.get(flow);
    f.sentFrames++;
    f.sentBytes += bytes;
    if (tNs !== undefined) {
      f.firstSentNs = Math.min(f.firstSentNs ?? tNs, tNs);
      f.lastSentNs = Math.max(f.lastSentNs ?? 0, tNs);
    }
  }

  delivered(flow: string, bytes: number, tNs?: number): void {
    this.sink?.(tNs === undefined ? ['d', flow, bytes] : ['d', flow, bytes, tNs]);
    const f = this.get(flow);
    f.deliveredFrames++;
    f.deliveredBytes += bytes;
    if (tNs !== undefined) {
      f.firstDeliveredNs = Math.min(f.firstDeliveredNs ?? tNs, tNs);
      f.lastDeliveredNs = Math.max(f.lastDeliveredNs ?? 0, tNs);
    }
  }

  dropped(flow: string, reason: string, n = 1): void {
    this.sink?.(['x', flow, reason, n]);
    const f = this.get(flow);
    f.drops[reason] = (f.drops[reason] ?? 0) + n;
  }

  /** Takes one recorded count again (replaying a journal); throws on anything else. */
  apply(op: FlowOp): void {
    if (!Array.isArray(op) || typeof op[1] !== 'string' && op[0] !== '=') throw new Error(`not a flow count: ${JSON.stringify(op)}`);
    const num = (v: unknown) => {
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new Error(`not a count: ${JSON.stringify(op)}`);
      return v;
    };
    const time = (v: unknown) => (v === undefined || v === null ? undefined : num(v));
    switch (op[0]) {
      case 's': return this.sent(op[1], num(op[2]), time(op[3]));
      case 'd': return this.delivered(op[1], num(op[2]), time(op[3]));
      case 'x':
        if (typeof op[2] !== 'string') throw new Error(`not a drop reason: ${JSON.stringify(op)}`);
        return this.dropped(op[1], op[2], num(op[3]));
      case '=': {
        const t = op[1];
        if (!t || typeof t.flow !== 'string') throw new Error(`not a flow's totals: ${JSON.stringify(op)}`);
        this.sink?.(op);
        const [m] = mergeFlowCounts([[this.get(t.flow)], [{ ...t, sentFrames: num(t.sentFrames), sentBytes: num(t.sentBytes), deliveredFrames: num(t.deliveredFrames), deliveredBytes: num(t.deliveredBytes), drops: { ...t.drops } }]]);
        this.flows.set(t.flow, m!);
        return;
      }
      default:
        throw new Error(`not a flow count: ${JSON.stringify(op)}`);
    }
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
