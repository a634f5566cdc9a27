// A Linux-style learning Ethernet bridge as it runs in the driver domain, joining the
// guests' vifs and the physical NIC (net/bridge/br_input.c, br_forward.c). It moves no
// bytes and charges no cycles: it decides where a frame goes; the caller copies it and
// charges one 'bridge_lookup' per frame.
import { BridgeError } from './bridge_error.js';
import { macToBytes, type Mac } from '@vnetlab/frames';
import { ForwardingDatabase, type FdbEntry } from './fdb.js';

export const DEFAULT_AGEING_NS = 300e9; // Linux BR_DEFAULT_AGEING_TIME: 300 s
export const DEFAULT_MAX_FDB_ENTRIES = 8192;
const ETH_HLEN = 14;

export type BridgeDropReason =
  | 'malformed'      // shorter than an Ethernet header
  | 'bad_source_mac' // multicast or all-zero source: is_valid_ether_addr() fails
  | 'link_local'     // 01:80:c2:00:00:0X (STP, LACP, pause...): never forwarded by 802.1D
  | 'same_port'      // known destination sits behind the port the frame came in on
  | 'unknown_port'   // in-port not on this bridge (e.g. removed while a frame was in flight)
  | 'no_other_port'; // flooding found no port to send to

export interface ForwardResult {
  out: string[];       // ports to transmit on, in port order
  learned: boolean;    // the source MAC created or moved an FDB entry
  flooded: boolean;    // sent to every other port (broadcast, multicast, unknown unicast)
  drop?: BridgeDropReason;
}

export interface PortStats { rxFrames: number; rxBytes: number; txFrames: number; txBytes: number }

export interface BridgeStats {
  frames: number;      // frames offered to forward()
  unicast: number;     // forwarded to exactly one known port
  flooded: number;
  dropped: number;
  drops: Partial<Record<BridgeDropReason, number>>;
  learned: number;     // new FDB entries
  moved: number;       // entries that changed port
  pinned: number;      // sources seen on another port than their sticky entry's, not learned
  aged: number;        // entries removed by ageing
  fdbFull: number;     // sources not learned because the table was full
  fdbEntries: number;
  ports: Record<string, PortStats>;
}

export interface BridgeOptions {
  ageingNs?: number;    // default 300 s
  maxEntries?: number;  // bound on learned MACs, so a guest spraying source MACs cannot grow it without limit
}

export class Bridge {
  private readonly portMap = new Map<string, PortStats>();
  private readonly table: ForwardingDatabase;
  private readonly counters = { frames: 0, unicast: 0, flooded: 0, dropped: 0, learned: 0, moved: 0, pinned: 0, aged: 0, fdbFull: 0 };
  private readonly drops: Partial<Record<BridgeDropReason, number>> = {};
  private nextSweepNs = 0;
  /** Static entries as set (MAC → port), to restore them when stickiness comes back on. */
  private readonly pins = new Map<number, string>();
  private sticky = true;

  constructor(opts: BridgeOptions = {}) {
    const ageingNs = opts.ageingNs ?? DEFAULT_AGEING_NS;
    const maxEntries = opts.maxEntries ?? DEFAULT_MAX_FDB_ENTRIES;
    if (!(ageingNs > 0)) throw new BridgeError('bad_option', `ageingNs must be > 0, got ${ageingNs}`);
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new BridgeError('bad_option', `maxEntries must be a positive integer, got ${maxEntries}`);
    this.table = new ForwardingDatabase(ageingNs, maxEntries);
  }

  get ageingNs(): number { return this.table.ageingNs; }

  addPort(name: string): void {
    if (typeof name !== 'string' || name === '') throw new BridgeError('bad_option', 'a port needs a non-empty name');
    if (this.portMap.has(name)) throw new BridgeError('port_exists', `port ${name} is already on the bridge`);
    this.portMap.set(name, { rxFrames: 0, rxBytes: 0, txFrames: 0, txBytes: 0 });
  }

  /**
   * A guest's own MAC, fixed on its vif as the toolstack does (`bridge fdb add MAC dev vifN
   * master static sticky`): a frame from another port with that source address — a frame from
   * the wire claiming a local guest's MAC — no longer moves the guest's traffic to that port.
   * The entry never ages; removing the port removes it.
   */
  addStaticEntry(mac: Mac, port: string): void {
    if (!this.portMap.has(port)) throw new BridgeError('unknown_port', `port ${port} is not on the bridge`);
    const bytes = macToBytes(mac);
    if ((bytes[0]! & 1) === 1 || bytes.readUIntBE(0, 6) === 0) throw new BridgeError('bad_option', `${mac} is not a unicast MAC`);
    this.pins.set(bytes.readUIntBE(0, 6), port);
    this.table.pin(bytes.readUIntBE(0, 6), port);
  }

  /**
   * Whether static entries hold (the default). Off — the host's protection switched off, to
   * show why it exists — they move like learned ones; back on, every one is where it was set.
   */
  get stickyEntries(): boolean { return this.sticky; }
  set stickyEntries(on: boolean) {
    this.sticky = on;
    if (on) for (const [mac, port] of this.pins) this.table.pin(mac, port);
  }

  /** Detaches a port and forgets every MAC learned on it. */
  removePort(name: string): void {
    if (!this.portMap.delete(name)) throw new BridgeError('unknown_port', `port ${name} is not on the bridge`);
    for (const [mac, port] of this.pins) if (port === name) this.pins.delete(mac);
    this.table.flushPort(name);
  }

  ports(): string[] { return [...this.portMap.keys()]; }

  forward(inPort: string, frame: Buffer, tNs: number): ForwardResult {
    this.counters.frames++;
    const rx = this.portMap.get(inPort);
    if (!rx) return this.dropped('unknown_port', false);
    rx.rxFrames++;
    rx.rxBytes += frame.length;
    if (frame.length < ETH_HLEN) return this.dropped('malformed', false);
    if (tNs >= this.nextSweepNs) {
      // Periodic cleanup as br_fdb_cleanup does, so stale MACs do not pile up.
      this.counters.aged += this.table.age(tNs);
      this.nextSweepNs = tNs + this.table.ageingNs / 4;
    }

    const srcFirst = frame[6]!;
    const src = frame.readUIntBE(6, 6);
    if ((srcFirst & 1) === 1 || src === 0) return this.dropped('bad_source_mac', false);
    let learned = false;
    switch (this.table.learn(src, inPort, tNs, this.sticky)) {
      case 'new': this.counters.learned++; learned = true; break;
      case 'moved': this.counters.moved++; learned = true; break;
      case 'pinned': this.counters.pinned++; break;
      case 'full': this.counters.fdbFull++; break;
      case 'refreshed': break;
    }

    if ((frame[0]! & 1) === 1) {
      if (isLinkLocal(frame)) return this.dropped('link_local', learned);
      return this.flood(inPort, frame.length, learned);
    }
    const dstPort = this.table.lookup(frame.readUIntBE(0, 6), tNs, () => this.counters.aged++);
    if (dstPort === undefined) return this.flood(inPort, frame.length, learned);
    if (dstPort === inPort) return this.dropped('same_port', learned);
    this.counters.unicast++;
    this.tx(dstPort, frame.length);
    return { out: [dstPort], learned, flooded: false };
  }

  /** Removes entries expired at tNs; returns how many. */
  age(tNs: number): number {
    const n = this.table.age(tNs);
    this.counters.aged += n;
    return n;
  }

  /** The learned table; with tNs, only the entries still live at that time. */
  fdb(tNs?: number): FdbEntry[] { return this.table.entries(tNs); }

  stats(): BridgeStats {
    const ports: Record<string, PortStats> = {};
    for (const [name, s] of this.portMap) ports[name] = { ...s };
    return { ...this.counters, drops: { ...this.drops }, fdbEntries: this.table.size, ports };
  }

  private flood(inPort: string, len: number, learned: boolean): ForwardResult {
    const out: string[] = [];
    for (const p of this.portMap.keys()) if (p !== inPort) out.push(p);
    if (out.length === 0) return this.dropped('no_other_port', learned, true);
    this.counters.flooded++;
    for (const p of out) this.tx(p, len);
    return { out, learned, flooded: true };
  }

  private tx(port: string, len: number): void {
    const s = this.portMap.get(port)!;
    s.txFrames++;
    s.txBytes += len;
  }

  private dropped(reason: BridgeDropReason, learned: boolean, flooded = false): ForwardResult {
    this.counters.dropped++;
    this.drops[reason] = (this.drops[reason] ?? 0) + 1;
    return { out: [], learned, flooded, drop: reason };
  }
}

function isLinkLocal(f: Buffer): boolean {
  return f[0] === 0x01 && f[1] === 0x80 && f[2] === 0xc2 && f[3] === 0 && f[4] === 0 && (f[5]! & 0xf0) === 0;
}
