// The MAC learning table of the NORMAL action (Open vSwitch lib/mac-learning.c), one per
// bridge domain: domain 0 is untunnelled traffic, any other domain is a VNI, so the same MAC
// in two VNIs is two unrelated entries. An entry on a tunnel port also names the remote
// VTEP behind which the MAC was seen (the overlay's MAC → VTEP mapping).
import { bytesToMac, type Ip, type Mac } from '@vnetlab/frames';

export interface MacEntry { domain: number; mac: Mac; port: string; remoteIp?: Ip; lastSeenNs: number }

export type MacLearnResult = 'new' | 'moved' | 'refreshed' | 'full';

interface Slot { port: string; remoteIp?: Ip; lastSeenNs: number }

export class MacTable {
  private readonly domains = new Map<number, Map<number, Slot>>();
  private count = 0;
  /** Bumped whenever an entry appears, moves or goes: decisions cached on the table are stale. */
  generation = 0;

  constructor(readonly ageingNs: number, readonly maxEntries: number) {}

  get size(): number { return this.count; }

  private expired(s: Slot, tNs: number): boolean { return tNs - s.lastSeenNs >= this.ageingNs; }

  learn(domain: number, mac: number, port: string, remoteIp: Ip | undefined, tNs: number): MacLearnResult {
    let d = this.domains.get(domain);
    const s = d?.get(mac);
    if (s && !this.expired(s, tNs)) {
      if (tNs > s.lastSeenNs) s.lastSeenNs = tNs; // out-of-order signals never move lastSeen back
      if (s.port === port && s.remoteIp === remoteIp) return 'refreshed';
      s.port = port; s.remoteIp = remoteIp; // the station moved (a migrated guest, a new VTEP)
      this.generation++;
      return 'moved';
    }
    if (!s && this.count >= this.maxEntries) return 'full';
    if (!d) { d = new Map(); this.domains.set(domain, d); }
    if (!s) this.count++;
    d.set(mac, { port, remoteIp, lastSeenNs: tNs });
    this.generation++;
    return 'new';
  }

  /** Refreshes a live entry that already says (port, remoteIp); false if it does not (any more). */
  touch(domain: number, mac: number, port: string, remoteIp: Ip | undefined, tNs: number): boolean {
    const s = this.domains.get(domain)?.get(mac);
    if (!s || this.expired(s, tNs) || s.port !== port || s.remoteIp !== remoteIp) return false;
    if (tNs > s.lastSeenNs) s.lastSeenNs = tNs;
    return true;
  }

  /** A live entry; an expired one is removed (and reported through onAged). */
  lookup(domain: number, mac: number, tNs: number, onAged?: () => void): Readonly<Slot> | undefined {
    const d = this.domains.get(domain);
    const s = d?.get(mac);
    if (!s) return undefined;
    if (this.expired(s, tNs)) {
      this.remove(d!, mac);
      onAged?.();
      return undefined;
    }
    return s;
  }

  /** Removes entries expired at tNs; returns how many. */
  age(tNs: number): number {
    return this.removeWhere((s) => this.expired(s, tNs));
  }

  /** Forgets what was learned on a port, or behind one remote VTEP of it (in one domain). */
  flushPort(port: string, remoteIp?: Ip, domain?: number): number {
    return this.removeWhere((s, dom) => s.port === port && (remoteIp === undefined || s.remoteIp === remoteIp) && (domain === undefined || dom === domain));
  }

  entries(tNs?: number): MacEntry[] {
    const out: MacEntry[] = [];
    const b = Buffer.allocUnsafe(6);
    for (const [domain, d] of this.domains) {
      for (const [mac, s] of d) {
        if (tNs !== undefined && this.expired(s, tNs)) continue;
        b.writeUIntBE(mac, 0, 6);
        const e: MacEntry = { domain, mac: bytesToMac(b), port: s.port, lastSeenNs: s.lastSeenNs };
        if (s.remoteIp !== undefined) e.remoteIp = s.remoteIp;
        out.push(e);
      }
    }
    return out;
  }

  private remove(d: Map<number, Slot>, mac: number): void {
    d.delete(mac);
    this.count--;
    this.generation++;
  }

  private removeWhere(pred: (s: Slot, domain: number) => boolean): number {
    let n = 0;
    for (const [domain, d] of this.domains) {
      for (const [mac, s] of d) if (pred(s, domain)) { this.remove(d, mac); n++; }
    }
    return n;
  }
}

/** A MAC as a 48-bit integer (exact in a double), from the two 24-bit halves of a flow key. */
export function macNumber(hi: number, lo: number): number {
  return hi * 2 ** 24 + lo;
}
