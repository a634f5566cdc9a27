// Open vSwitch's forwarding logic for one host: ports, an OpenFlow-like table (slow path),
// an exact-match cache in front of it (fast path), MAC learning per bridge domain for the
// NORMAL action, and VXLAN VTEPs with head-end replication of BUM traffic. It decides and
// encapsulates; it charges nothing: every process() returns a trace of the primitives its
// work costs ('flow_lookup', 'vxlan_encap'), and the caller charges them.
import {
  decapVxlan, encapVxlan, ETH_HEADER_LEN, FrameError, ipToNumber, isVxlanTo, macToBytes,
  VXLAN_OVERHEAD, VXLAN_PORT, type Ip, type Mac,
} from '@vnetlab/frames';
import type { FlowAction, FlowSpec } from './flow.js';
import { FlowCache, DEFAULT_CACHE_ENTRIES, type CachedDecision, type FlowCacheStats } from './flow_cache.js';
import { describeKey, exactKey, extractFlowKey, macString, type FlowKey } from './flow_key.js';
import { formatFlow, parseFlow, parseMatch, PORT_NAME_RE } from './flow_syntax.js';
import { FlowTable } from './flow_table.js';
import { MacTable, macNumber, type MacEntry } from './mac_table.js';
import type { DropReason, PortConfig, PortCounters, PortInfo, PortKind } from './port.js';
import type { TraceStep } from './trace.js';
import { VtepTable, type RemoteVtep } from './vtep.js';
import { VswitchError } from './vswitch_error.js';

export const DEFAULT_AGEING_NS = 300e9;        // OVS other_config:mac-aging-time default, 300 s
export const DEFAULT_MAX_MAC_ENTRIES = 8192;   // OVS other_config:mac-table-size default
export const DEFAULT_UNDERLAY_MTU = 1500;
export const NO_VNI = 0;                        // the untunnelled bridge domain (tun_id=0)
export const MAX_VNI = 0xffffff;
const PORT_KINDS: readonly PortKind[] = ['vif', 'uplink', 'vxlan', 'internal'];

export interface VSwitchOptions {
  ageingNs?: number;
  maxMacEntries?: number;
  cacheEntries?: number;
  /** Start with `priority=0,actions=normal`, as a fresh OVS bridge does (default true). */
  defaultFlow?: boolean;
}

export interface SwitchOutput {
  port: string;
  frame: Buffer;        // on a tunnel port the whole outer frame; otherwise the frame itself (shared bytes)
  vni?: number;         // set when encapsulated
  remoteIp?: Ip;        // the remote VTEP, when encapsulated
  mirror?: boolean;     // a mirror copy, not the frame's forwarding
}

export interface SwitchDrop { reason: DropReason; port?: string; detail?: string }

export interface ProcessResult {
  outputs: SwitchOutput[];
  drops: SwitchDrop[];
  trace: TraceStep[];
  fastPath: boolean;    // decided by the exact-match cache
  /** Received through a tunnel port: the port and the inner frame it decapsulated (a view into the frame). */
  decap?: { port: string; inner: Buffer; vni: number };
}

export interface FlowStats { flow: string; priority: number; nPackets: number; nBytes: number }

export interface VSwitchStats {
  frames: number;       // frames offered to process()
  forwarded: number;    // frames with at least one non-mirror output
  dropped: number;      // frames with no non-mirror output (each drop is also in `drops` with its reason)
  drops: Partial<Record<DropReason, number>>;
  cache: FlowCacheStats;
  mac: { entries: number; learned: number; moved: number; aged: number; full: number };
  flows: number;
  ports: Record<string, PortCounters>;
}

interface PortState { cfg: Required<Pick<PortConfig, 'name' | 'kind'>> & PortConfig; counters: PortCounters; localIpNum: number }

/** The slow path's working state for one frame (ofproto's xlate context). */
interface Xlate {
  inPort: PortState;
  frame: Buffer;
  key: FlowKey;
  tunId: number;        // current VNI: the frame's domain, changed by set_tunnel
  remoteIp?: Ip;        // the VTEP a decapsulated frame came from
  tNs: number;
  d: CachedDecision;
  trace: TraceStep[];
}

export class VSwitch {
  private readonly portMap = new Map<string, PortState>();
  private readonly table = new FlowTable();
  private readonly macs: MacTable;
  private readonly vtepTable = new VtepTable();
  private readonly cache: FlowCache;
  private readonly counters = { frames: 0, forwarded: 0, dropped: 0, learned: 0, moved: 0, aged: 0, full: 0 };
  private readonly dropCounts: Partial<Record<DropReason, number>> = {};
  private macGeneration = 0;
  private nextSweepNs = 0;

  constructor(opts: VSwitchOptions = {}) {
    const ageingNs = opts.ageingNs ?? DEFAULT_AGEING_NS;
    const maxMac = opts.maxMacEntries ?? DEFAULT_MAX_MAC_ENTRIES;
    const cacheEntries = opts.cacheEntries ?? DEFAULT_CACHE_ENTRIES;
    if (!(ageingNs > 0)) throw new VswitchError('bad_option', `ageingNs must be > 0, got ${ageingNs}`);
    if (!Number.isInteger(maxMac) || maxMac < 1) throw new VswitchError('bad_option', `maxMacEntries must be a positive integer, got ${maxMac}`);
    if (!Number.isInteger(cacheEntries) || cacheEntries < 1) throw new VswitchError('bad_option', `cacheEntries must be a positive integer, got ${cacheEntries}`);
    this.macs = new MacTable(ageingNs, maxMac);
    this.cache = new FlowCache(cacheEntries);
    if (opts.defaultFlow ?? true) this.table.add(parseFlow('priority=0,actions=normal'));
  }

  get ageingNs(): number { return this.macs.ageingNs; }

  // ---- ports ----

  addPort(config: PortConfig): void {
    const c = { ...config };
    if (typeof c.name !== 'string' || !PORT_NAME_RE.test(c.name)) throw new VswitchError('bad_option', `a port needs a name of letters, digits, _ . - (got ${String(c.name)})`);
    if (this.portMap.has(c.name)) throw new VswitchError('port_exists', `port ${c.name} is already on the switch`);
    if (!PORT_KINDS.includes(c.kind)) throw new VswitchError('bad_option', `port ${c.name}: kind must be one of ${PORT_KINDS.join(', ')}, got ${String(c.kind)}`);
    let localIpNum = -1;
    if (c.kind === 'vxlan') {
      if (c.vni !== undefined) throw new VswitchError('bad_option', `port ${c.name}: a tunnel port carries every VNI; set VNIs on remote VTEPs, not on the port`);
      if (c.localIp === undefined || c.localMac === undefined) throw new VswitchError('bad_option', `port ${c.name}: a vxlan port needs localIp and localMac`);
      localIpNum = this.ip(c.localIp, `port ${c.name} localIp`, 'bad_option');
      this.mac(c.localMac, `port ${c.name} localMac`);
      if (c.nextHopMac !== undefined) this.mac(c.nextHopMac, `port ${c.name} nextHopMac`);
      c.underlayMtu = this.int(c.underlayMtu ?? DEFAULT_UNDERLAY_MTU, 68, 65535, `port ${c.name} underlayMtu`);
      c.ttl = this.int(c.ttl ?? 64, 1, 255, `port ${c.name} ttl`);
      c.udpPort = this.int(c.udpPort ?? VXLAN_PORT, 1, 65535, `port ${c.name} udpPort`);
      c.udpChecksum = c.udpChecksum ?? false;
    } else {
      for (const k of ['localIp', 'localMac', 'nextHopMac', 'underlayMtu', 'ttl', 'udpChecksum', 'udpPort'] as const) {
        if (c[k] !== undefined) throw new VswitchError('bad_option', `port ${c.name}: ${k} is for vxlan ports only`);
      }
      if (c.vni !== undefined) checkVni(c.vni);
    }
    this.portMap.set(c.name, { cfg: c, counters: { rxFrames: 0, rxBytes: 0, txFrames: 0, txBytes: 0, drops: {} }, localIpNum });
    this.cache.invalidate();
  }

  /** Detaches a port, forgetting its learned MACs and, for a tunnel port, its remote VTEPs. Flows naming it stay (as in OVS) and drop with 'unknown_port'. */
  removePort(name: string): void {
    if (!this.portMap.delete(name)) throw new VswitchError('unknown_port', `port ${name} is not on the switch`);
    this.macs.flushPort(name);
    this.vtepTable.removePort(name);
    this.cache.invalidate();
  }

  ports(): PortInfo[] {
    return [...this.portMap.values()].map((p) => ({ ...p.cfg, counters: copyCounters(p.counters) }));
  }

  // ---- VTEPs ----

  /**
   * Declares a remote VTEP of `vni`, reached through tunnel port `port` (default: the only
   * vxlan port) via underlay next hop `mac` (default: the port's nextHopMac).
   */
  addVtep(vni: number, remoteIp: Ip, opts: { port?: string; mac?: Mac } = {}): void {
    checkVni(vni);
    this.ip(remoteIp, 'remote VTEP', 'bad_vtep');
    const tunnels = [...this.portMap.values()].filter((p) => p.cfg.kind === 'vxlan');
    let port: PortState | undefined;
    if (opts.port !== undefined) {
      port = this.portMap.get(opts.port);
      if (!port) throw new VswitchError('unknown_port', `port ${opts.port} is not on the switch`);
      if (port.cfg.kind !== 'vxlan') throw new VswitchError('bad_vtep', `port ${opts.port} is a ${port.cfg.kind} port, not a vxlan port`);
    } else {
      if (tunnels.length !== 1) throw new VswitchError('bad_vtep', `name the tunnel port: the switch has ${tunnels.length} vxlan ports`);
      port = tunnels[0]!;
    }
    if (remoteIp === port.cfg.localIp) throw new VswitchError('bad_vtep', `${remoteIp} is port ${port.cfg.name}'s own VTEP address`);
    const mac = opts.mac ?? port.cfg.nextHopMac;
    if (mac === undefined) throw new VswitchError('bad_vtep', `no next-hop MAC for ${remoteIp}: give opts.mac or the port's nextHopMac`);
    this.mac(mac, `next hop of ${remoteIp}`);
    this.vtepTable.add({ vni, ip: remoteIp, port: port.cfg.name, mac });
    this.cache.invalidate();
  }

  /** Removes a remote VTEP of `vni` and the MACs learned behind it in that VNI. */
  removeVtep(vni: number, remoteIp: Ip): boolean {
    const gone = this.vtepTable.remove(vni, remoteIp);
    if (!gone) return false;
    this.macs.flushPort(gone.port, remoteIp, vni);
    this.cache.invalidate();
    return true;
  }

  vteps(vni?: number): RemoteVtep[] {
    return vni === undefined ? this.vtepTable.all() : this.vtepTable.remotes(vni).map((r) => ({ ...r }));
  }

  // ---- flows ----

  /** ovs-ofctl add-flow: text or a parsed spec; returns the flow's canonical text. */
  addFlow(flow: string | FlowSpec): string {
    const spec = typeof flow === 'string' ? parseFlow(flow) : flow;
    const named = [spec.match.inPort, ...spec.actions.map((a) => ('port' in a ? a.port : undefined))];
    for (const p of named) if (p !== undefined && !this.portMap.has(p)) throw new VswitchError('unknown_port', `flow ${formatFlow(spec)} names port ${p}, which is not on the switch`);
    const entry = this.table.add(spec);
    this.cache.invalidate();
    return entry.text;
  }

  /** ovs-ofctl del-flows [--strict] [MATCH]; returns how many flows went. */
  delFlows(match?: string, opts: { strict?: boolean } = {}): number {
    const parsed = match === undefined || match.trim() === '' ? undefined : parseMatch(match);
    const n = this.table.delete(parsed?.match, { strict: opts.strict, priority: parsed?.priority });
    if (n > 0) this.cache.invalidate();
    return n;
  }

  /** ovs-ofctl dump-flows: one line per flow, highest priority first. */
  dumpFlows(): string[] {
    return this.table.list().map((e) => ` n_packets=${e.nPackets}, n_bytes=${e.nBytes}, ${e.text}`);
  }

  flows(): FlowStats[] {
    return this.table.list().map((e) => ({ flow: e.text, priority: e.spec.priority, nPackets: e.nPackets, nBytes: e.nBytes }));
  }

  // ---- MAC table ----

  macTable(tNs?: number): MacEntry[] { return this.macs.entries(tNs); }

  /** Removes MAC entries expired at tNs; returns how many. */
  age(tNs: number): number {
    const n = this.macs.age(tNs);
    this.counters.aged += n;
    this.syncMacGeneration();
    return n;
  }

  stats(): VSwitchStats {
    const ports: Record<string, PortCounters> = {};
    for (const [name, p] of this.portMap) ports[name] = copyCounters(p.counters);
    const { frames, forwarded, dropped, learned, moved, aged, full } = this.counters;
    return {
      frames, forwarded, dropped, drops: { ...this.dropCounts }, cache: this.cache.stats(),
      mac: { entries: this.macs.size, learned, moved, aged, full }, flows: this.table.size, ports,
    };
  }

  // ---- the data path ----

  /** One frame received on `inPort` at modelled time `tNs`: where it goes, why, and what that cost. */
  process(inPort: string, frame: Buffer, tNs: number): ProcessResult {
    const res: ProcessResult = { outputs: [], drops: [], trace: [], fastPath: false };
    this.counters.frames++;
    let port = this.portMap.get(inPort);
    if (!port) return this.finish(res, this.drop(res, undefined, 'unknown_port', `port ${inPort} is not on the switch`));
    this.rx(port, frame.length);
    res.trace.push({ step: 'rx', port: inPort, detail: `${frame.length} bytes on ${port.cfg.kind} port ${inPort}` });
    if (tNs >= this.nextSweepNs) {
      // Periodic sweep, as OVS's mac_learning_run() expires entries in the background.
      this.counters.aged += this.macs.age(tNs);
      this.nextSweepNs = tNs + this.macs.ageingNs / 4;
    }
    this.syncMacGeneration();

    if (port.cfg.kind === 'uplink') {
      // VXLAN for a local VTEP arriving on the NIC is the tunnel port's (the host stack's UDP socket).
      for (const t of this.portMap.values()) {
        if (t.cfg.kind === 'vxlan' && isVxlanTo(frame, t.localIpNum, t.cfg.udpPort)) {
          res.trace.push({ step: 'tunnel_rx', port: t.cfg.name, detail: `VXLAN to local VTEP ${t.cfg.localIp}: handed from ${inPort} to ${t.cfg.name}` });
          port = t;
          this.rx(port, frame.length);
          break;
        }
      }
    }

    let inner = frame, tunId = port.cfg.vni ?? NO_VNI, remoteIp: Ip | undefined;
    if (port.cfg.kind === 'vxlan') {
      // The cost table has one primitive for both directions: header parse + route check mirror the encap.
      const step: TraceStep = { step: 'decap', port: port.cfg.name, primitive: 'vxlan_encap', count: 1, detail: '' };
      res.trace.push(step);
      let pkt;
      try {
        pkt = decapVxlan(frame, port.cfg.udpPort);
      } catch (e) {
        if (!(e instanceof FrameError)) throw e;
        const reason: DropReason = e.reason === 'not_vxlan' ? 'not_vxlan' : e.reason === 'bad_flags' ? 'bad_vxlan_flags' : 'malformed';
        step.detail = `refused: ${e.message}`;
        return this.finish(res, this.drop(res, port, reason, e.message));
      }
      const { vni, outer } = pkt;
      step.vni = vni; step.remoteIp = outer.srcIp;
      step.detail = `VXLAN vni ${vni} from VTEP ${outer.srcIp}:${outer.srcPort} to ${outer.dstIp}, inner ${pkt.inner.length} bytes`;
      if (outer.dstIp !== port.cfg.localIp) return this.finish(res, this.drop(res, port, 'not_local_vtep', `${outer.dstIp} is not ${port.cfg.name}'s VTEP ${port.cfg.localIp}`));
      if (!this.servesVni(vni)) return this.finish(res, this.drop(res, port, 'unknown_vni', `VNI ${vni} is not served here`));
      if (!this.vtepTable.find(vni, outer.srcIp)) return this.finish(res, this.drop(res, port, 'unknown_vtep', `${outer.srcIp} is not a remote VTEP of VNI ${vni}`));
      inner = pkt.inner; tunId = vni; remoteIp = outer.srcIp;
      res.decap = { port: port.cfg.name, inner, vni };
    }
    if (inner.length < ETH_HEADER_LEN) return this.finish(res, this.drop(res, port, 'malformed', `${inner.length} bytes is shorter than an Ethernet header`));

    const key = extractFlowKey(inner, port.cfg.name, tunId);
    const ck = exactKey(key, remoteIp);
    let d = this.cache.get(ck, tNs, (c) => !c.learn || this.macs.touch(c.learn.domain, c.learn.mac, c.learn.port, c.learn.remoteIp, tNs));
    if (d) {
      res.fastPath = true;
      res.trace.push({ step: 'cache_hit', primitive: 'flow_lookup', count: 1, flow: d.flow?.text, detail: `fast path: ${describeKey(key)}${d.flow ? ` → ${d.flow.text}` : ''}` });
    } else {
      res.trace.push({ step: 'cache_miss', primitive: 'flow_lookup', count: 1, detail: `slow path: ${describeKey(key)}${tunId !== NO_VNI ? ` in VNI ${tunId}` : ''}` });
      d = this.xlate(port, inner, key, tunId, remoteIp, tNs, res.trace);
      this.syncMacGeneration(); // learning may have changed the table: older decisions go first
      this.cache.put(ck, d);
    }
    return this.finish(res, this.execute(res, port, inner, d));
  }

  // ---- slow path: classify, then translate the flow's actions into datapath actions ----

  private xlate(inPort: PortState, frame: Buffer, key: FlowKey, tunId: number, remoteIp: Ip | undefined, tNs: number, trace: TraceStep[]): CachedDecision {
    const { flow, subtables } = this.table.lookup(key);
    const d: CachedDecision = { flow, actions: [], drops: [], validUntilNs: Infinity };
    trace.push({
      step: 'table_lookup', primitive: 'flow_lookup', count: subtables, flow: flow?.text,
      detail: flow ? `matched ${flow.text} (${subtables} subtable${subtables === 1 ? '' : 's'} probed)` : `no flow matched (${subtables} subtables probed)`,
    });
    if (!flow) {
      d.drops.push({ reason: 'no_match', detail: 'table miss' });
      return d;
    }
    if (flow.spec.actions.length === 0) {
      d.drops.push({ reason: 'flow_drop', detail: `dropped by ${flow.text}` });
      return d;
    }
    const x: Xlate = { inPort, frame, key, tunId, remoteIp, tNs, d, trace };
    for (const a of flow.spec.actions) this.xlateAction(x, a);
    return d;
  }

  private xlateAction(x: Xlate, a: FlowAction): void {
    switch (a.type) {
      case 'normal': return this.xlateNormal(x);
      case 'flood': return this.xlateFlood(x, 'flood action');
      case 'output': return this.xlateOutput(x, a.port, false);
      case 'mirror': return this.xlateOutput(x, a.port, true);
      case 'set_tunnel':
        x.trace.push({ step: 'set_tunnel', vni: a.vni, detail: `VNI ${x.tunId} → ${a.vni} for what follows` });
        x.tunId = a.vni;
        return;
    }
  }

  /** The NORMAL action: learn the source in the frame's domain, then forward or flood by destination. */
  private xlateNormal(x: Xlate): void {
    const { key, inPort, tNs } = x;
    const domain = x.tunId;
    const srcText = macString(key.dlSrcHi, key.dlSrcLo);
    const src = macNumber(key.dlSrcHi, key.dlSrcLo);
    if (((key.dlSrcHi >> 16) & 1) === 1 || src === 0) {
      x.d.drops.push({ reason: 'bad_source_mac', detail: `NORMAL refuses source ${srcText}` });
      return;
    }
    const r = this.macs.learn(domain, src, inPort.cfg.name, x.remoteIp, tNs);
    if (r === 'new') this.counters.learned++;
    else if (r === 'moved') this.counters.moved++;
    else if (r === 'full') this.counters.full++;
    if (r !== 'full') x.d.learn = { domain, mac: src, port: inPort.cfg.name, remoteIp: x.remoteIp };
    x.trace.push({
      step: 'mac_learn', primitive: 'flow_lookup', count: 1, port: inPort.cfg.name, vni: domain || undefined, remoteIp: x.remoteIp,
      detail: `${srcText} in ${domainName(domain)} on ${inPort.cfg.name}${x.remoteIp ? ` behind VTEP ${x.remoteIp}` : ''}: ${r === 'full' ? 'not learned, table full' : r}`,
    });
    const dstText = macString(key.dlDstHi, key.dlDstLo);
    if (((key.dlDstHi >> 16) & 1) === 1) return this.xlateFlood(x, dstText === 'ff:ff:ff:ff:ff:ff' ? 'broadcast' : 'multicast');
    const e = this.macs.lookup(domain, macNumber(key.dlDstHi, key.dlDstLo), tNs, () => this.counters.aged++);
    x.trace.push({
      step: 'mac_lookup', primitive: 'flow_lookup', count: 1, vni: domain || undefined,
      detail: e ? `${dstText} in ${domainName(domain)} is on ${e.port}${e.remoteIp ? ` behind VTEP ${e.remoteIp}` : ''}` : `${dstText} unknown in ${domainName(domain)}`,
    });
    if (!e) return this.xlateFlood(x, 'unknown unicast');
    if (e.port === inPort.cfg.name) {
      x.d.drops.push({ reason: 'same_port', port: inPort.cfg.name, detail: `${dstText} is behind the in-port ${inPort.cfg.name}` });
      return;
    }
    x.d.validUntilNs = Math.min(x.d.validUntilNs, e.lastSeenNs + this.macs.ageingNs);
    if (e.remoteIp !== undefined) {
      const v = this.vtepTable.find(domain, e.remoteIp);
      if (!v) { x.d.drops.push({ reason: 'no_vtep', port: e.port, detail: `VTEP ${e.remoteIp} is no longer configured for VNI ${domain}` }); return; }
      x.d.actions.push({ kind: 'tunnel', port: v.port, vni: domain, remoteIp: v.ip, nextHopMac: v.mac, mirror: false });
    } else {
      x.d.actions.push({ kind: 'output', port: e.port, mirror: false });
    }
  }

  /**
   * Floods within the frame's domain: every local port of that domain but the in-port, and,
   * for a frame not from the overlay, every remote VTEP of the VNI (head-end replication).
   * A frame from a tunnel is never flooded back into the overlay (split horizon: the VTEPs
   * form a full mesh, the sender has already replicated it to every one).
   */
  private xlateFlood(x: Xlate, why: string): void {
    const domain = x.tunId;
    const local: string[] = [];
    for (const p of this.portMap.values()) {
      if (p.cfg.kind !== 'vxlan' && (p.cfg.vni ?? NO_VNI) === domain && p !== x.inPort) local.push(p.cfg.name);
    }
    const fromTunnel = x.inPort.cfg.kind === 'vxlan';
    const remotes = fromTunnel || domain === NO_VNI ? [] : this.vtepTable.remotes(domain);
    for (const p of local) x.d.actions.push({ kind: 'output', port: p, mirror: false });
    for (const r of remotes) x.d.actions.push({ kind: 'tunnel', port: r.port, vni: domain, remoteIp: r.ip, nextHopMac: r.mac, mirror: false });
    const reps = remotes.length > 0 ? `; head-end replication to VTEPs [${remotes.map((r) => r.ip).join(', ')}]` : fromTunnel ? '; not back into the overlay (split horizon)' : '';
    x.trace.push({ step: 'flood', vni: domain || undefined, detail: `${why} in ${domainName(domain)}: local ports [${local.join(', ')}]${reps}` });
  }

  /** output:PORT / mirror:PORT. To a tunnel port: to the VTEP the destination was learned behind, else to every VTEP of the VNI. */
  private xlateOutput(x: Xlate, name: string, mirror: boolean): void {
    const p = this.portMap.get(name);
    if (!p) { x.d.drops.push({ reason: 'unknown_port', port: name, detail: `output to ${name}, which is not on the switch` }); return; }
    if (!mirror && p === x.inPort) {
      x.d.drops.push({ reason: 'same_port', port: name, detail: `output:${name} is the in-port (OpenFlow never sends a frame back where it came from)` });
      return;
    }
    if (p.cfg.kind !== 'vxlan') { x.d.actions.push({ kind: 'output', port: name, mirror }); return; }
    const vni = x.tunId;
    if (vni === NO_VNI) { x.d.drops.push({ reason: 'no_vni', port: name, detail: `output:${name} of a frame in no VNI (use set_tunnel:VNI first)` }); return; }
    let targets: readonly RemoteVtep[] = [];
    if (((x.key.dlDstHi >> 16) & 1) === 0) {
      const e = this.macs.lookup(vni, macNumber(x.key.dlDstHi, x.key.dlDstLo), x.tNs, () => this.counters.aged++);
      const v = e && e.port === name && e.remoteIp !== undefined ? this.vtepTable.find(vni, e.remoteIp) : undefined;
      x.trace.push({ step: 'mac_lookup', primitive: 'flow_lookup', count: 1, vni, detail: v ? `destination is behind VTEP ${v.ip} in VNI ${vni}` : `destination not learned behind ${name} in VNI ${vni}` });
      if (v) { targets = [v]; x.d.validUntilNs = Math.min(x.d.validUntilNs, e!.lastSeenNs + this.macs.ageingNs); }
    }
    if (targets.length === 0) {
      targets = this.vtepTable.remotes(vni).filter((r) => r.port === name);
      x.trace.push({ step: 'flood', vni, detail: `head-end replication on ${name} to VTEPs [${targets.map((r) => r.ip).join(', ')}] of VNI ${vni}` });
    }
    if (targets.length === 0) { x.d.drops.push({ reason: 'no_vtep', port: name, detail: `VNI ${vni} has no remote VTEP on ${name}` }); return; }
    for (const v of targets) x.d.actions.push({ kind: 'tunnel', port: name, vni, remoteIp: v.ip, nextHopMac: v.mac, mirror });
  }

  // ---- both paths: run the datapath actions on this frame's bytes ----

  private execute(res: ProcessResult, inPort: PortState, frame: Buffer, d: CachedDecision): number {
    if (d.flow) { d.flow.nPackets++; d.flow.nBytes += frame.length; }
    let forwarded = 0;
    for (const drop of d.drops) this.drop(res, drop.port !== undefined ? this.portMap.get(drop.port) ?? inPort : inPort, drop.reason, drop.detail);
    for (const a of d.actions) {
      const p = this.portMap.get(a.port)!; // the cache is emptied whenever a port goes
      const step = a.mirror ? 'mirror' : 'output';
      if (a.kind === 'output') {
        res.outputs.push(a.mirror ? { port: a.port, frame, mirror: true } : { port: a.port, frame });
        this.tx(p, frame.length);
        res.trace.push({ step, port: a.port, detail: `${frame.length} bytes to ${p.cfg.kind} port ${a.port}` });
        if (!a.mirror) forwarded++;
        continue;
      }
      // The underlay carries the outer IPv4 packet: inner frame without its Ethernet header + 50 bytes.
      const outerIpLen = frame.length - ETH_HEADER_LEN + VXLAN_OVERHEAD;
      if (outerIpLen > p.cfg.underlayMtu!) {
        this.drop(res, p, 'underlay_mtu', `inner ${frame.length - ETH_HEADER_LEN} + ${VXLAN_OVERHEAD} = ${outerIpLen} bytes exceeds underlay MTU ${p.cfg.underlayMtu} towards ${a.remoteIp}`, a.remoteIp);
        continue;
      }
      const outer = encapVxlan({
        inner: frame, vni: a.vni, outerSrcMac: p.cfg.localMac!, outerDstMac: a.nextHopMac, srcIp: p.cfg.localIp!, dstIp: a.remoteIp,
        ttl: p.cfg.ttl, udpChecksum: p.cfg.udpChecksum, dstPort: p.cfg.udpPort,
      });
      res.trace.push({ step: 'encap', port: a.port, vni: a.vni, remoteIp: a.remoteIp, primitive: 'vxlan_encap', count: 1, detail: `VXLAN vni ${a.vni} ${p.cfg.localIp} → ${a.remoteIp}, ${outer.length} bytes` });
      res.outputs.push({ port: a.port, frame: outer, vni: a.vni, remoteIp: a.remoteIp, ...(a.mirror ? { mirror: true } : {}) });
      this.tx(p, outer.length);
      res.trace.push({ step, port: a.port, remoteIp: a.remoteIp, detail: `${outer.length} bytes to tunnel port ${a.port} for VTEP ${a.remoteIp}` });
      if (!a.mirror) forwarded++;
    }
    if (res.outputs.length === 0 && res.drops.length === 0) this.drop(res, inPort, 'no_destination', 'the actions sent the frame nowhere');
    return forwarded;
  }

  private finish(res: ProcessResult, forwarded: number): ProcessResult {
    if (forwarded > 0) this.counters.forwarded++; else this.counters.dropped++;
    return res;
  }

  /** Records a drop (on the frame's result, the switch and the port); returns 0 forwarded, for finish(). */
  private drop(res: ProcessResult, port: PortState | undefined, reason: DropReason, detail: string, remoteIp?: Ip): number {
    res.drops.push({ reason, ...(port ? { port: port.cfg.name } : {}), detail });
    res.trace.push({ step: 'drop', reason, port: port?.cfg.name, remoteIp, detail: `${reason}: ${detail}` });
    this.dropCounts[reason] = (this.dropCounts[reason] ?? 0) + 1;
    if (port) port.counters.drops[reason] = (port.counters.drops[reason] ?? 0) + 1;
    return 0;
  }

  private rx(p: PortState, len: number): void { p.counters.rxFrames++; p.counters.rxBytes += len; }
  private tx(p: PortState, len: number): void { p.counters.txFrames++; p.counters.txBytes += len; }

  private syncMacGeneration(): void {
    if (this.macs.generation !== this.macGeneration) {
      this.macGeneration = this.macs.generation;
      this.cache.invalidate();
    }
  }

  private servesVni(vni: number): boolean {
    if (vni === NO_VNI) return false;
    if (this.vtepTable.hasVni(vni)) return true;
    for (const p of this.portMap.values()) if (p.cfg.vni === vni) return true;
    return false;
  }

  private ip(v: Ip, what: string, reason: 'bad_option' | 'bad_vtep'): number {
    try { return ipToNumber(v); } catch { throw new VswitchError(reason, `${what}: not an IPv4 address: ${String(v)}`); }
  }

  private mac(v: Mac, what: string): void {
    try { macToBytes(v); } catch { throw new VswitchError('bad_option', `${what}: not a MAC address: ${String(v)}`); }
  }

  private int(v: number, min: number, max: number, what: string): number {
    if (!Number.isInteger(v) || v < min || v > max) throw new VswitchError('bad_option', `${what} must be an integer in ${min}..${max}, got ${v}`);
    return v;
  }
}

function checkVni(vni: number): void {
  if (!Number.isInteger(vni) || vni < 1 || vni > MAX_VNI) {
    throw new VswitchError('bad_vni', `a VNI is an integer in 1..${MAX_VNI} (0 is the untunnelled domain), got ${vni}`);
  }
}

function domainName(domain: number): string { return domain === NO_VNI ? 'the untunnelled domain' : `VNI ${domain}`; }

function copyCounters(c: PortCounters): PortCounters { return { ...c, drops: { ...c.drops } }; }
