// The forwarding database of a learning bridge (Linux net/bridge/br_fdb.c): MAC → port,
// stamped with the modelled time the MAC was last seen as a source.
import { bytesToMac, type Mac } from '@vnetlab/frames';

export interface FdbEntry { mac: Mac; port: string; lastSeenNs: number; sticky?: boolean }

/** What learning a source address did to the table ('pinned': a sticky entry stayed where it was). */
export type LearnResult = 'new' | 'moved' | 'refreshed' | 'full' | 'pinned';

/** sticky: set by the toolstack (`bridge fdb add MAC dev vifN master static sticky`), never aged or moved. */
interface Slot { port: string; lastSeenNs: number; sticky?: boolean }

/** MACs are keyed as 48-bit integers read straight from the frame (no string per frame). */
export class ForwardingDatabase {
  private readonly table = new Map<number, Slot>();

  constructor(readonly ageingNs: number, readonly maxEntries: number) {}

  get size(): number { return this.table.size; }

  // Linux has_expired(): expired once updated + ageing_time <= now.
  private expired(s: Slot, tNs: number): boolean { return !s.sticky && tNs - s.lastSeenNs >= this.ageingNs; }

  /** A static, sticky entry: `mac` is behind `port` whatever source addresses other ports show. */
  pin(mac: number, port: string): void {
    this.table.set(mac, { port, lastSeenNs: 0, sticky: true });
  }

  /** `sticky` false: a sticky entry moves like any other (and is no longer sticky). */
  learn(mac: number, port: string, tNs: number, sticky = true): LearnResult {
    const s = this.table.get(mac);
    if (s && !this.expired(s, tNs)) {
      // Signals may arrive slightly out of modelled-time order; never move lastSeen back.
      if (s.port === port) {
        if (tNs > s.lastSeenNs) s.lastSeenNs = tNs;
        return 'refreshed';
      }
      if (s.sticky && sticky) return 'pinned';
      delete s.sticky;
      if (tNs > s.lastSeenNs) s.lastSeenNs = tNs;
      s.port = port; // the station moved (e.g. a migrated guest)
      return 'moved';
    }
    if (!s && this.table.size >= this.maxEntries) return 'full';
    this.table.set(mac, { port, lastSeenNs: tNs });
    return 'new';
  }

  /** The port of a live entry; an expired one is removed and reported through `onAged`. */
  lookup(mac: number, tNs: number, onAged?: () => void): string | undefined {
    const s = this.table.get(mac);
    if (!s) return undefined;
    if (this.expired(s, tNs)) {
      this.table.delete(mac);
      onAged?.();
      return undefined;
    }
    return s.port;
  }

  /** Removes every entry expired at tNs (br_fdb_cleanup); returns how many. */
  age(tNs: number): number {
    let n = 0;
    for (const [mac, s] of this.table) if (this.expired(s, tNs)) { this.table.delete(mac); n++; }
    return n;
  }

  /** Removes the entries of a port (br_fdb_delete_by_port); returns how many. */
  flushPort(port: string): number {
    let n = 0;
    for (const [mac, s] of this.table) if (s.port === port) { this.table.delete(mac); n++; }
    return n;
  }

  entries(tNs?: number): FdbEntry[] {
    const out: FdbEntry[] = [];
    const mac = Buffer.allocUnsafe(6);
    for (const [k, s] of this.table) {
      if (tNs !== undefined && this.expired(s, tNs)) continue;
      mac.writeUIntBE(k, 0, 6);
      out.push({ mac: bytesToMac(mac), port: s.port, lastSeenNs: s.lastSeenNs, ...(s.sticky ? { sticky: true } : {}) });
    }
    return out;
  }
}
