// The OpenFlow table of the slow path (ofproto's classifier): flows by priority, first
// added wins a tie. Every change bumps `version`, so caches built on an older table go.
import { maskSignature, matchesKey, type FlowMatch, type FlowSpec } from './flow.js';
import type { FlowKey } from './flow_key.js';
import { formatFlow, matchFields } from './flow_syntax.js';

export interface FlowEntry {
  readonly spec: FlowSpec;
  readonly text: string;   // canonical ovs-ofctl text
  nPackets: number;
  nBytes: number;
}

export interface FlowLookup { flow?: FlowEntry; subtables: number }

export class FlowTable {
  private entries: FlowEntry[] = [];
  private signatures = new Map<string, number>(); // mask signature → flows using it
  version = 0;

  get size(): number { return this.entries.length; }

  /** Adds a flow; one with the same match and priority is replaced and its counters reset (ovs-ofctl add-flow). */
  add(spec: FlowSpec): FlowEntry {
    const entry: FlowEntry = { spec, text: formatFlow(spec), nPackets: 0, nBytes: 0 };
    const same = this.entries.findIndex((e) => e.spec.priority === spec.priority && sameMatch(e.spec.match, spec.match));
    if (same >= 0) {
      this.entries[same] = entry;
    } else {
      let at = this.entries.findIndex((e) => e.spec.priority < spec.priority);
      if (at < 0) at = this.entries.length;
      this.entries.splice(at, 0, entry);
      const sig = maskSignature(spec.match);
      this.signatures.set(sig, (this.signatures.get(sig) ?? 0) + 1);
    }
    this.version++;
    return entry;
  }

  /**
   * Deletes flows (ovs-ofctl del-flows). Without a match: all. Loose (default): every flow
   * whose match has each given field with the given value. Strict: the flow whose match is
   * exactly `match`, at `priority`. Returns how many went.
   */
  delete(match?: FlowMatch, opts: { strict?: boolean; priority?: number } = {}): number {
    const want = match ? matchFields(match) : [];
    const doomed = this.entries.filter((e) => {
      if (opts.strict) return sameMatch(e.spec.match, match ?? {}) && (opts.priority === undefined || e.spec.priority === opts.priority);
      const have = new Map(matchFields(e.spec.match));
      return want.every(([k, v]) => have.get(k) === v);
    });
    if (doomed.length === 0) return 0;
    this.entries = this.entries.filter((e) => !doomed.includes(e));
    for (const e of doomed) {
      const sig = maskSignature(e.spec.match);
      const n = this.signatures.get(sig)! - 1;
      if (n === 0) this.signatures.delete(sig); else this.signatures.set(sig, n);
    }
    this.version++;
    return doomed.length;
  }

  /** The highest-priority flow matching `key`, and how many subtables a classifier would probe. */
  lookup(key: FlowKey): FlowLookup {
    const subtables = Math.max(1, this.signatures.size);
    for (const e of this.entries) if (matchesKey(e.spec.match, key)) return { flow: e, subtables };
    return { subtables };
  }

  list(): readonly FlowEntry[] { return this.entries; }
}

function sameMatch(a: FlowMatch, b: FlowMatch): boolean {
  const fa = matchFields(a), fb = matchFields(b);
  return fa.length === fb.length && fa.every(([k, v], i) => fb[i]![0] === k && fb[i]![1] === v);
}
