// The fast path in front of the flow table, like Open vSwitch's exact-match cache in its
// datapath: keyed on every header field of a frame, it holds the decision the slow path
// (classifier + NORMAL's MAC lookups) made for the first frame with those headers, as
// datapath actions. Any change a decision could depend on — flows, ports, VTEPs, the MAC
// table — empties it, as OVS's revalidators would remove or fix the affected entries.
import type { Ip, Mac } from '@vnetlab/frames';
import type { FlowEntry } from './flow_table.js';
import type { DropReason } from './port.js';

export type DatapathAction =
  | { kind: 'output'; port: string; mirror: boolean }
  | { kind: 'tunnel'; port: string; vni: number; remoteIp: Ip; nextHopMac: Mac; mirror: boolean };

export interface DecidedDrop { reason: DropReason; port?: string; detail: string }

export interface CachedDecision {
  flow?: FlowEntry;               // the flow credited with the frame's packets and bytes
  actions: DatapathAction[];
  drops: DecidedDrop[];
  /** NORMAL learned the source: a hit refreshes that entry instead of learning again. */
  learn?: { domain: number; mac: number; port: string; remoteIp?: Ip };
  /** A learned destination this decision used ages out then: no hit from that time on. */
  validUntilNs: number;
}

export const DEFAULT_CACHE_ENTRIES = 8192; // OVS's EMC holds 8192 entries per thread

export interface FlowCacheStats { hits: number; misses: number; entries: number; invalidations: number; evictions: number }

export class FlowCache {
  private readonly map = new Map<string, CachedDecision>();
  private readonly counters = { hits: 0, misses: 0, invalidations: 0, evictions: 0 };

  constructor(readonly capacity = DEFAULT_CACHE_ENTRIES) {}

  /**
   * A still-valid decision (counted as a hit), or undefined (counted as a miss). `usable`
   * is the caller's last word on an entry (e.g. the source MAC it refreshes has expired).
   */
  get(key: string, tNs: number, usable?: (d: CachedDecision) => boolean): CachedDecision | undefined {
    const d = this.map.get(key);
    if (d && tNs < d.validUntilNs && (!usable || usable(d))) { this.counters.hits++; return d; }
    if (d) this.map.delete(key);
    this.counters.misses++;
    return undefined;
  }

  put(key: string, d: CachedDecision): void {
    if (this.map.size >= this.capacity && !this.map.has(key)) {
      this.map.delete(this.map.keys().next().value!); // oldest first
      this.counters.evictions++;
    }
    this.map.set(key, d);
  }

  invalidate(): void {
    if (this.map.size > 0) this.counters.invalidations++;
    this.map.clear();
  }

  stats(): FlowCacheStats { return { ...this.counters, entries: this.map.size }; }
}
