import {
  BROADCAST_MAC, ETHERTYPE_ARP, ETHERTYPE_IPV4, FrameError, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP,
  TCP_ACK, TCP_RST, TCP_SYN,
  decodeArp, decodeEthernet, decodeIcmp, decodeIpv4, decodeTcp, decodeUdp,
  encodeArp, encodeEthernet, encodeIcmpEcho, encodeIpv4, encodeTcp, encodeUdp, internetChecksum, ipToNumber, macToBytes, numberToIp,
  type ArpPacket, type Ip, type Mac, type TcpSegment,
} from '@vnetlab/frames';
import { ArpTable } from './arp_table.js';
import { BytePattern, flowSeed } from './byte_pattern.js';
import { NetStackError, checkByteCount, checkPort, checkTime } from './netstack_error.js';
import { emptyOutput, type StackOutput } from './stack_output.js';
import { TcpBulkSender, type TcpSenderStats } from './tcp_bulk_sender.js';
import { DEFAULT_TCP_TIMERS, type TcpIo, type TcpTimerOptions } from './tcp_io.js';
import { initialSeq, seqAdd } from './tcp_seq.js';
import { TcpSink, type TcpSinkStats } from './tcp_sink.js';
import { UdpBulk } from './udp_bulk.js';

const IP_HEADER = 20, UDP_HEADER = 8, ICMP_HEADER = 8, TCP_HEADER = 20;
const DEFAULT_TTL = 64;
const IPV4_FLAG_DF = 2;         // no fragmentation, so say so on the wire
const ZERO_MAC: Mac = '00:00:00:00:00:00';
const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const EPHEMERAL_FIRST = 49152;  // IANA dynamic ports
const PING_TIMESTAMP_BYTES = 8;

export interface NetStackOptions {
  mac: Mac;
  ip: Ip;
  mtu?: number;              // IP MTU, default 1500
  arpQueueLimit?: number;    // packets held per unresolved address, default 64
  arpRetryNs?: number;       // default 1 s
  arpMaxTries?: number;      // default 3
  tcp?: Partial<TcpTimerOptions>;
  /**
   * TCP segmentation offload: TCP senders build segments of up to this many payload bytes
   * (at most TSO_MAX_PAYLOAD) and leave the cutting into MSS frames to the device. Off by
   * default; gsoSizeOf() tells the owner the MSS of each large frame.
   */
  tsoMaxBytes?: number;
  /** Forward IPv4 packets addressed to another host to their next hop (net.ipv4.ip_forward=1). Default off. */
  ipForward?: boolean;
}

/** The most TCP payload one IPv4 packet can carry (65,535 - 20 - 20): a TSO segment's limit. */
export const TSO_MAX_PAYLOAD = 0xffff - 20 - 20;

export interface FlowStats {
  flow: string;
  protocol: 'tcp' | 'udp';
  role: 'sender' | 'receiver';
  state: string;
  bytesSent: number;         // new payload bytes sent (retransmissions not included)
  bytesAcked: number;        // TCP sender: bytes the peer has acknowledged
  bytesDelivered: number;    // receiver: bytes handed up in order
  datagrams: number;         // UDP: datagrams sent (sender) or delivered (receiver)
  retransmissions: number;   // TCP segments sent again
  corruptBytes: number;      // TCP receiver: delivered bytes that differ from the flow's pattern
  tcp?: TcpSenderStats | TcpSinkStats;
}

export interface NetStackStats {
  framesIn: number; framesOut: number; bytesIn: number; bytesOut: number;
  drops: Record<string, number>;   // by reason; each also reported as a 'drop' event
  retransmissions: number;         // all TCP flows
  arp: { entries: number; queued: number; requestsSent: number; repliesSent: number };
  forwarded: number;               // IPv4 packets passed on to their next hop (ip_forward)
  icmp: { echoRequestsSent: number; echoRepliesSent: number; echoRepliesReceived: number };
  flows: FlowStats[];
}

interface UdpFlowCounters { flow: string; role: 'sender' | 'receiver'; bytes: number; datagrams: number }

/**
 * A guest's network stack: ARP, IPv4, ICMP echo, UDP and a bulk-transfer TCP. Driven by
 * its owner: frames in (receive), calls, and timers (fireTimers) with the modelled time;
 * every frame to send and everything to tell comes back as a StackOutput. It never reads a
 * clock. Bulk senders (TCP and UDP) hold their data until the owner pulls frames, so the
 * owner paces them by its TX ring space: after receive() or fireTimers(), check canSend().
 */
export class NetStack {
  readonly mac: Mac;
  readonly ip: Ip;
  readonly mtu: number;
  readonly mss: number;
  private readonly arp: ArpTable;
  private readonly timers: TcpTimerOptions;
  private readonly pingId: number;
  private ipId = 0;
  private nextEphemeral = EPHEMERAL_FIRST;
  private readonly udpPorts = new Set<number>();
  private readonly tcpListeners = new Map<number, { ackEvery: number }>();
  private readonly tcpSenders = new Map<string, TcpBulkSender>();
  private readonly tcpSinks = new Map<string, TcpSink>();
  private readonly tcpRemote = new Map<string, Ip>();
  private readonly udpBulks = new Map<string, UdpBulk>();
  private readonly udpFlows = new Map<string, UdpFlowCounters>();
  private rrTcp = 0;
  private rrUdp = 0;
  private readonly c = {
    framesIn: 0, framesOut: 0, bytesIn: 0, bytesOut: 0,
    arpRequestsSent: 0, arpRepliesSent: 0, echoRequestsSent: 0, echoRepliesSent: 0, echoRepliesReceived: 0, forwarded: 0,
  };
  readonly ipForward: boolean;
  private readonly macBytes: Buffer;
  /** Host routes: a destination reached through a gateway's MAC (ip route add DST via GW). */
  private readonly routes = new Map<Ip, Ip>();
  /** Forwarded IP packets, then the frames that carry them: not this host's own traffic. */
  private readonly fwdPackets = new WeakSet<Buffer>();
  private readonly fwdFrames = new WeakSet<Buffer>();
  private readonly drops: Record<string, number> = {};
  private readonly tsoMax?: number;
  /** IP packets, then frames, that carry a TCP segment larger than the MSS: their MSS. */
  private readonly gsoPackets = new WeakMap<Buffer, number>();
  private readonly gsoFrames = new WeakMap<Buffer, number>();

  constructor(opts: NetStackOptions) {
    if (typeof opts?.mac !== 'string' || !MAC_RE.test(opts.mac)) {
      throw new NetStackError('bad_argument', `mac must be a lower-case "xx:xx:xx:xx:xx:xx", got ${String(opts?.mac)}`);
    }
    checkIp(opts.ip, 'ip');
    const mtu = opts.mtu ?? 1500;
    if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) throw new NetStackError('bad_argument', `mtu must be an integer in 68..65535, got ${mtu}`);
    this.mac = opts.mac;
    this.ip = opts.ip;
    this.mtu = mtu;
    this.mss = mtu - IP_HEADER - TCP_HEADER;
    this.arp = new ArpTable({
      queueLimit: positiveInt(opts.arpQueueLimit ?? 64, 'arpQueueLimit'),
      retryNs: positiveNumber(opts.arpRetryNs ?? 1e9, 'arpRetryNs'),
      maxTries: positiveInt(opts.arpMaxTries ?? 3, 'arpMaxTries'),
    });
    this.timers = { ...DEFAULT_TCP_TIMERS, ...opts.tcp };
    if (opts.tsoMaxBytes !== undefined) {
      const t = opts.tsoMaxBytes;
      if (!Number.isInteger(t) || t < 1 || t > TSO_MAX_PAYLOAD) throw new NetStackError('bad_argument', `tsoMaxBytes must be an integer in 1..${TSO_MAX_PAYLOAD}, got ${t}`);
      this.tsoMax = t;
    }
    this.pingId = flowSeed(`ping:${this.ip}`) & 0xffff;
    this.ipForward = opts.ipForward === true;
    this.macBytes = macToBytes(this.mac);
  }

  // ---- routes -------------------------------------------------------------------------

  /** Packets to `dst` go to `via`'s MAC from now on (a host route through a gateway). */
  addRoute(dst: Ip, via: Ip): void {
    checkIp(dst, 'dst');
    checkIp(via, 'via');
    if (via === this.ip || dst === this.ip) throw new NetStackError('bad_argument', `a route to ${dst} via ${via} would loop back to this host (${this.ip})`);
    this.routes.set(dst, via);
  }

  deleteRoute(dst: Ip): boolean {
    return this.routes.delete(dst);
  }

  routeEntries(): Array<{ dst: Ip; via: Ip }> {
    return [...this.routes].map(([dst, via]) => ({ dst, via }));
  }

  /** The address whose MAC a packet to `dst` is sent to. */
  private nextHop(dst: Ip): Ip {
    return this.routes.get(dst) ?? dst;
  }

  /**
   * Whether receive() would forward this frame rather than take it up the stack: what the
   * owner charges for it differs (a forwarding lookup, not a socket delivery).
   */
  wouldForward(frame: Buffer): boolean {
    if (!this.ipForward || frame.length < 14 + IP_HEADER) return false;
    if (frame.readUInt16BE(12) !== ETHERTYPE_IPV4 || (frame[14]! >> 4) !== 4) return false;
    if (!frame.subarray(0, 6).equals(this.macBytes)) return false;
    return numberToIp(frame.readUInt32BE(30)) !== this.ip;
  }

  /** Whether a frame this stack sent carries a forwarded packet (someone else's traffic). */
  isForwarded(frame: Buffer): boolean {
    return this.fwdFrames.has(frame);
  }

  // ---- frames in ----------------------------------------------------------------------

  /** One Ethernet frame off the wire. Bad or unwanted frames become 'drop' events, never throws on bytes. */
  receive(frame: Buffer, tNs: number): StackOutput {
    checkTime(tNs);
    if (!Buffer.isBuffer(frame)) throw new NetStackError('bad_argument', 'receive() needs a Buffer');
    const out = emptyOutput();
    this.c.framesIn++;
    this.c.bytesIn += frame.length;
    const eth = this.decode(out, () => decodeEthernet(frame));
    if (!eth) return out;
    if (eth.dst !== this.mac && eth.dst !== BROADCAST_MAC) return this.drop(out, 'not_for_us');
    if (eth.ethertype === ETHERTYPE_ARP) {
      const arp = this.decode(out, () => decodeArp(eth.payload));
      if (arp) this.onArp(arp, tNs, out);
    } else if (eth.ethertype === ETHERTYPE_IPV4) {
      this.onIpv4(eth.payload, tNs, out);
    } else {
      this.drop(out, 'unknown_ethertype');
    }
    return out;
  }

  // ---- ARP ----------------------------------------------------------------------------

  /** A gratuitous ARP (an announcement, RFC 5227) so that peers and switches learn where we are. */
  announce(tNs: number): StackOutput {
    checkTime(tNs);
    const out = emptyOutput();
    this.sendArp({ op: 1, senderMac: this.mac, senderIp: this.ip, targetMac: ZERO_MAC, targetIp: this.ip }, BROADCAST_MAC, out);
    return out;
  }

  arpEntries(): Array<{ ip: Ip; mac: Mac }> { return this.arp.entries(); }

  private onArp(p: ArpPacket, tNs: number, out: StackOutput): void {
    if (p.senderMac === this.mac) return void this.drop(out, 'own_frame');
    // RFC 826 merge: refresh a known (or awaited) sender; add it if the packet is for us.
    const known = this.arp.has(p.senderIp) || this.arp.isResolving(p.senderIp);
    const forUs = p.targetIp === this.ip && p.senderIp !== this.ip;
    if (known || forUs) this.flushQueued(p.senderIp, this.arp.learn(p.senderIp, p.senderMac), out);
    if (forUs && p.op === 1) {
      this.c.arpRepliesSent++;
      this.sendArp({ op: 2, senderMac: this.mac, senderIp: this.ip, targetMac: p.senderMac, targetIp: p.senderIp }, p.senderMac, out);
    }
    if (!known && !forUs) this.drop(out, 'arp_not_for_us');
  }

  private flushQueued(ip: Ip, packets: Buffer[], out: StackOutput): void {
    const mac = this.arp.lookup(ip)!;
    for (const pkt of packets) this.emit(out, mac, ETHERTYPE_IPV4, pkt);
  }

  private sendArp(p: ArpPacket, dstMac: Mac, out: StackOutput): void {
    this.emit(out, dstMac, ETHERTYPE_ARP, encodeArp(p));
  }

  private sendArpRequest(ip: Ip, out: StackOutput): void {
    this.c.arpRequestsSent++;
    this.sendArp({ op: 1, senderMac: this.mac, senderIp: this.ip, targetMac: ZERO_MAC, targetIp: ip }, BROADCAST_MAC, out);
  }

  // ---- IPv4 ---------------------------------------------------------------------------

  private onIpv4(bytes: Buffer, tNs: number, out: StackOutput): void {
    const ip = this.decode(out, () => decodeIpv4(bytes));
    if (!ip) return;
    if (ip.dst !== this.ip) return void (this.ipForward ? this.forward(bytes, ip.ttl, ip.dst, tNs, out) : this.drop(out, 'not_for_us'));
    if (((ip.flags ?? 0) & 1) !== 0 || (ip.fragmentOffset ?? 0) !== 0) return void this.drop(out, 'fragment');
    switch (ip.protocol) {
      case IPPROTO_ICMP: return this.onIcmp(ip.src, ip.payload, tNs, out);
      case IPPROTO_UDP: return this.onUdp(ip.src, ip.payload, tNs, out);
      case IPPROTO_TCP: return this.onTcp(ip.src, ip.payload, tNs, out);
      default: this.drop(out, 'unknown_protocol');
    }
  }

  /**
   * Forwards a packet for another host (RFC 1812 5.3.1: decrement TTL, update the header
   * checksum) to its next hop. The packet is copied: the received frame is the device's.
   */
  private forward(bytes: Buffer, ttl: number, dst: Ip, tNs: number, out: StackOutput): void {
    if (ttl <= 1) return void this.drop(out, 'ttl_exceeded');
    const hlen = (bytes[0]! & 0x0f) * 4;
    const pkt = Buffer.from(bytes.subarray(0, bytes.readUInt16BE(2)));
    pkt[8] = ttl - 1;
    pkt.writeUInt16BE(0, 10);
    pkt.writeUInt16BE(internetChecksum(pkt, 0, hlen), 10);
    this.c.forwarded++;
    this.fwdPackets.add(pkt);
    this.toNextHop(dst, pkt, tNs, out);
  }

  /** Wraps an L4 payload in IPv4 and Ethernet, or holds it until the peer's MAC is known. */
  private sendIp(dst: Ip, protocol: number, l4: Buffer, tNs: number, out: StackOutput, gsoSize?: number): void {
    const pkt = encodeIpv4({ src: this.ip, dst, protocol, ttl: DEFAULT_TTL, id: this.ipId, payload: l4, flags: IPV4_FLAG_DF });
    if (gsoSize !== undefined) {
      this.gsoPackets.set(pkt, gsoSize);
      // every frame the device cuts it into takes an IP id of its own (as Linux advances ip_id by gso_segs)
      this.ipId = (this.ipId + Math.ceil((l4.length - TCP_HEADER) / gsoSize) - 1) & 0xffff;
    }
    this.ipId = (this.ipId + 1) & 0xffff;
    this.toNextHop(dst, pkt, tNs, out);
  }

  /** Sends an IP packet to the MAC of dst's next hop, or holds it while that is resolved. */
  private toNextHop(dst: Ip, pkt: Buffer, tNs: number, out: StackOutput): void {
    const hop = this.nextHop(dst);
    const mac = this.arp.lookup(hop);
    if (mac !== undefined) return this.emit(out, mac, ETHERTYPE_IPV4, pkt);
    const r = this.arp.enqueue(hop, pkt, tNs);
    if (r === 'request') this.sendArpRequest(hop, out);
    else if (r === 'full') this.drop(out, 'arp_queue_full');
  }

  private emit(out: StackOutput, dstMac: Mac, ethertype: number, payload: Buffer): void {
    const f = encodeEthernet({ dst: dstMac, src: this.mac, ethertype, payload });
    const gso = this.gsoPackets.get(payload);
    if (gso !== undefined) this.gsoFrames.set(f, gso);
    if (this.fwdPackets.has(payload)) this.fwdFrames.add(f);
    this.c.framesOut++;
    this.c.bytesOut += f.length;
    out.frames.push(f);
  }

  // ---- ICMP echo ----------------------------------------------------------------------

  /** An echo request carrying its send time (8 bytes) and `size - 8` pattern bytes. */
  ping(dst: Ip, seq: number, tNs: number, size = 56): StackOutput {
    checkIp(dst, 'dst');
    checkTime(tNs);
    if (!Number.isInteger(seq) || seq < 0 || seq > 0xffff) throw new NetStackError('bad_argument', `seq must be in 0..65535, got ${seq}`);
    checkByteCount(size, 'ping size', PING_TIMESTAMP_BYTES);
    this.checkFits(ICMP_HEADER + size, 'ping');
    const data = Buffer.alloc(size);
    data.writeDoubleBE(tNs, 0);
    for (let i = PING_TIMESTAMP_BYTES; i < size; i++) data[i] = i & 0xff; // as ping(8) fills
    const out = emptyOutput();
    this.c.echoRequestsSent++;
    this.sendIp(dst, IPPROTO_ICMP, encodeIcmpEcho({ type: 8, code: 0, id: this.pingId, seq, data }), tNs, out);
    return out;
  }

  private onIcmp(src: Ip, bytes: Buffer, tNs: number, out: StackOutput): void {
    const m = this.decode(out, () => decodeIcmp(bytes));
    if (!m) return;
    if (m.type === 8) {
      this.c.echoRepliesSent++;
      this.sendIp(src, IPPROTO_ICMP, encodeIcmpEcho({ type: 0, code: 0, id: m.id, seq: m.seq, data: m.data }), tNs, out);
      return;
    }
    if (m.id !== this.pingId || m.data.length < PING_TIMESTAMP_BYTES) return void this.drop(out, 'echo_not_ours');
    this.c.echoRepliesReceived++;
    out.events.push({ kind: 'echo-reply', from: src, seq: m.seq, rttNs: tNs - m.data.readDoubleBE(0), tNs });
  }

  // ---- UDP ----------------------------------------------------------------------------

  bindUdp(port: number): void {
    checkPort(port, 'port');
    if (this.udpPorts.has(port)) throw new NetStackError('port_in_use', `UDP port ${port} is already bound`);
    this.udpPorts.add(port);
  }

  unbindUdp(port: number): void { this.udpPorts.delete(port); }

  /** One datagram; throws NetStackError('too_big') beyond mtu - 28 bytes of payload (no fragmentation). */
  sendUdp(dst: Ip, srcPort: number, dstPort: number, payload: Buffer, tNs: number): StackOutput {
    checkIp(dst, 'dst');
    checkPort(srcPort, 'srcPort');
    checkPort(dstPort, 'dstPort');
    checkTime(tNs);
    if (!Buffer.isBuffer(payload)) throw new NetStackError('bad_argument', 'payload must be a Buffer');
    this.checkFits(UDP_HEADER + payload.length, 'UDP datagram');
    const out = emptyOutput();
    this.udpOut(dst, srcPort, dstPort, payload, tNs, out);
    return out;
  }

  private udpOut(dst: Ip, srcPort: number, dstPort: number, payload: Buffer, tNs: number, out: StackOutput): void {
    const c = this.udpCounters(`udp:${this.ip}:${srcPort}>${dst}:${dstPort}`, 'sender');
    c.bytes += payload.length;
    c.datagrams++;
    this.sendIp(dst, IPPROTO_UDP, encodeUdp({ srcPort, dstPort, payload }, this.ip, dst), tNs, out);
  }

  private onUdp(src: Ip, bytes: Buffer, tNs: number, out: StackOutput): void {
    const d = this.decode(out, () => decodeUdp(bytes, src, this.ip));
    if (!d) return;
    if (!this.udpPorts.has(d.dstPort)) return void this.drop(out, 'port_unreachable');
    const c = this.udpCounters(`udp:${src}:${d.srcPort}>${this.ip}:${d.dstPort}`, 'receiver');
    c.bytes += d.payload.length;
    c.datagrams++;
    // payload is a view into the received frame
    out.events.push({ kind: 'udp', from: src, srcPort: d.srcPort, dstPort: d.dstPort, payload: d.payload, tNs });
  }

  private udpCounters(flow: string, role: 'sender' | 'receiver'): UdpFlowCounters {
    let c = this.udpFlows.get(flow);
    if (!c) this.udpFlows.set(flow, (c = { flow, role, bytes: 0, datagrams: 0 }));
    return c;
  }

  /**
   * A UDP stream of `totalBytes` pattern bytes in `msgSize`-byte datagrams, pulled by the
   * owner with nextUdpBulkFrame() / pullFrames(). Returns the flow id.
   */
  startUdpBulk(dst: Ip, dstPort: number, totalBytes: number, msgSize: number, srcPort?: number): { flow: string } {
    checkIp(dst, 'dst');
    checkPort(dstPort, 'dstPort');
    checkByteCount(totalBytes, 'totalBytes');
    checkByteCount(msgSize, 'msgSize', 1);
    this.checkFits(UDP_HEADER + msgSize, 'UDP datagram');
    const sport = srcPort ?? this.ephemeralPort();
    checkPort(sport, 'srcPort');
    const flow = `udp:${this.ip}:${sport}>${dst}:${dstPort}`;
    if (this.udpBulks.has(flow)) throw new NetStackError('port_in_use', `UDP bulk flow ${flow} already exists`);
    this.udpBulks.set(flow, new UdpBulk(flow, dst, sport, dstPort, totalBytes, msgSize, new BytePattern(flowSeed(flow))));
    this.udpCounters(flow, 'sender');
    return { flow };
  }

  /** The next datagram of a UDP bulk flow (no frame once it is finished). */
  nextUdpBulkFrame(flow: string, tNs: number): StackOutput {
    checkTime(tNs);
    const b = this.udpBulks.get(flow);
    if (!b) throw new NetStackError('unknown_flow', `no UDP bulk flow ${flow}`);
    const out = emptyOutput();
    const payload = b.next();
    if (payload) this.udpOut(b.dst, b.srcPort, b.dstPort, payload, tNs, out);
    return out;
  }

  udpBulkDone(flow: string): boolean {
    const b = this.udpBulks.get(flow);
    if (!b) throw new NetStackError('unknown_flow', `no UDP bulk flow ${flow}`);
    return b.done;
  }

  private udpBulkReady(b: UdpBulk): boolean {
    // While the peer's MAC is being resolved, hold back rather than fill the ARP queue.
    return !b.done && !this.arp.isResolving(this.nextHop(b.dst));
  }

  // ---- TCP ----------------------------------------------------------------------------

  /** A sink on `port`: counts and checks bytes, ACKs every `ackEvery`-th segment (default 2). */
  listenTcp(port: number, opts: { ackEvery?: number } = {}): void {
    checkPort(port, 'port');
    const ackEvery = opts.ackEvery ?? 2;
    if (!Number.isInteger(ackEvery) || ackEvery < 1) throw new NetStackError('bad_argument', `ackEvery must be an integer >= 1, got ${ackEvery}`);
    if (this.tcpListeners.has(port)) throw new NetStackError('port_in_use', `TCP port ${port} is already listening`);
    this.tcpListeners.set(port, { ackEvery });
  }

  /** Opens a connection (the SYN is in `out`) that will send `totalBytes` pattern bytes then FIN. */
  startTcpBulk(dst: Ip, dstPort: number, totalBytes: number, tNs: number): { flow: string; out: StackOutput } {
    checkIp(dst, 'dst');
    checkPort(dstPort, 'dstPort');
    checkByteCount(totalBytes, 'totalBytes');
    checkTime(tNs);
    const sport = this.ephemeralPort();
    const flow = `tcp:${this.ip}:${sport}>${dst}:${dstPort}`;
    const seed = flowSeed(flow);
    const io: TcpIo = { segments: [], events: [] };
    const s = new TcpBulkSender(flow, sport, dstPort, totalBytes, this.mss, initialSeq(seed, 0x5eed), new BytePattern(seed), this.timers, tNs, io, this.tsoMax);
    this.tcpSenders.set(flow, s);
    this.tcpRemote.set(flow, dst);
    const out = emptyOutput();
    this.flushTcp(dst, io, tNs, out);
    return { flow, out };
  }

  /** Up to `maxFrames` TCP data/FIN frames, round-robin over senders (or from one flow). */
  pullTcpFrames(tNs: number, maxFrames: number, flow?: string): StackOutput {
    checkTime(tNs);
    const out = emptyOutput();
    const senders = flow === undefined ? [...this.tcpSenders.values()] : [this.sender(flow)];
    let left = Math.max(0, Math.floor(maxFrames));
    while (left > 0) {
      let progressed = false;
      for (let k = 0; k < senders.length && left > 0; k++) {
        const s = senders[(this.rrTcp + k) % senders.length]!;
        const io: TcpIo = { segments: [], events: [] };
        if (s.pull(tNs, 1, io) === 0) continue;
        this.flushTcp(this.tcpRemote.get(s.flow)!, io, tNs, out, s.mss);
        left--;
        progressed = true;
      }
      this.rrTcp++;
      if (!progressed) break;
    }
    return out;
  }

  private onTcp(src: Ip, bytes: Buffer, tNs: number, out: StackOutput): void {
    const seg = this.decode(out, () => decodeTcp(bytes, src, this.ip));
    if (!seg) return;
    const io: TcpIo = { segments: [], events: [] };
    let reason: string | undefined;
    const asSender = this.tcpSenders.get(`tcp:${this.ip}:${seg.dstPort}>${src}:${seg.srcPort}`);
    const sinkFlow = `tcp:${src}:${seg.srcPort}>${this.ip}:${seg.dstPort}`;
    let sink = this.tcpSinks.get(sinkFlow);
    const isSyn = (seg.flags & (TCP_SYN | TCP_ACK)) === TCP_SYN;
    if (asSender) {
      reason = asSender.onSegment(seg, tNs, io);
    } else if (sink && !(isSyn && (sink.state === 'closed' || sink.state === 'reset') && seg.seq !== sink.irs)) {
      reason = sink.onSegment(seg, tNs, io);
    } else if (isSyn) {
      const listener = this.tcpListeners.get(seg.dstPort);
      if (listener) {
        // A new connection (or a new one reusing the 4-tuple of a finished one).
        const seed = flowSeed(sinkFlow);
        const mss = Math.min(this.mss, seg.mss ?? this.mss);
        sink = new TcpSink(sinkFlow, seg.dstPort, seg.srcPort, seg.seq, initialSeq(seed, 0x5117), new BytePattern(seed), listener.ackEvery, this.timers.delayedAckNs, mss, io);
        this.tcpSinks.set(sinkFlow, sink);
        this.tcpRemote.set(sinkFlow, src);
      } else {
        reason = 'tcp_no_listener';
        io.segments.push(resetFor(seg));
      }
    } else {
      reason = 'tcp_no_connection';
    }
    this.flushTcp(src, io, tNs, out);
    if (reason) this.drop(out, reason);
  }

  private flushTcp(remote: Ip, io: TcpIo, tNs: number, out: StackOutput, mss = this.mss): void {
    for (const seg of io.segments) {
      // a segment above the MSS is a TSO segment: the device cuts it into frames of `mss`
      const gso = seg.payload.length > mss ? mss : undefined;
      this.sendIp(remote, IPPROTO_TCP, encodeTcp(seg, this.ip, remote), tNs, out, gso);
    }
    out.events.push(...io.events);
  }

  private sender(flow: string): TcpBulkSender {
    const s = this.tcpSenders.get(flow);
    if (!s) throw new NetStackError('unknown_flow', `no TCP bulk sender ${flow}`);
    return s;
  }

  unlistenTcp(port: number): void { this.tcpListeners.delete(port); }

  /** Forgets a flow (TCP sender or receiver, UDP bulk or counters); its stats go with it. */
  releaseFlow(flow: string): boolean {
    const had = this.tcpSenders.delete(flow) || this.tcpSinks.delete(flow);
    this.tcpRemote.delete(flow);
    const udp = this.udpBulks.delete(flow);
    const counters = this.udpFlows.delete(flow);
    return had || udp || counters;
  }

  // ---- pulling and timers -------------------------------------------------------------

  /** Whether a bulk flow (the given one, or any) has a frame ready for pulling. */
  canSend(flow?: string): boolean {
    if (flow !== undefined) {
      const s = this.tcpSenders.get(flow);
      if (s) return s.canSend();
      const b = this.udpBulks.get(flow);
      if (b) return this.udpBulkReady(b);
      throw new NetStackError('unknown_flow', `no bulk flow ${flow}`);
    }
    for (const s of this.tcpSenders.values()) if (s.canSend()) return true;
    for (const b of this.udpBulks.values()) if (this.udpBulkReady(b)) return true;
    return false;
  }

  /** Up to `maxFrames` frames from all bulk flows: TCP first (it is window-limited), then UDP round-robin. */
  pullFrames(tNs: number, maxFrames: number): StackOutput {
    const out = this.pullTcpFrames(tNs, maxFrames);
    let left = Math.max(0, Math.floor(maxFrames)) - out.frames.length;
    const bulks = [...this.udpBulks.values()];
    while (left > 0) {
      let progressed = false;
      for (let k = 0; k < bulks.length && left > 0; k++) {
        const b = bulks[(this.rrUdp + k) % bulks.length]!;
        if (!this.udpBulkReady(b)) continue;
        const before = out.frames.length;
        this.udpOut(b.dst, b.srcPort, b.dstPort, b.next()!, tNs, out);
        left -= out.frames.length - before;
        progressed = true;
      }
      this.rrUdp++;
      if (!progressed) break;
    }
    return out;
  }

  /** The earliest modelled time at which fireTimers() has work (RTO, delayed ACK, ARP retry). */
  nextTimerNs(): number | undefined {
    let next = this.arp.nextDeadline();
    const consider = (t: number | undefined) => { if (t !== undefined && (next === undefined || t < next)) next = t; };
    for (const s of this.tcpSenders.values()) consider(s.nextTimerNs());
    for (const s of this.tcpSinks.values()) consider(s.nextTimerNs());
    return next;
  }

  fireTimers(tNs: number): StackOutput {
    checkTime(tNs);
    const out = emptyOutput();
    const { retry, failed } = this.arp.expire(tNs);
    for (const ip of retry) this.sendArpRequest(ip, out);
    for (const f of failed) for (let i = 0; i < f.dropped; i++) this.drop(out, 'arp_unresolved');
    for (const s of this.tcpSenders.values()) {
      const t = s.nextTimerNs();
      if (t === undefined || t > tNs) continue;
      const io: TcpIo = { segments: [], events: [] };
      s.fireTimer(tNs, io);
      this.flushTcp(this.tcpRemote.get(s.flow)!, io, tNs, out, s.mss);
    }
    for (const s of this.tcpSinks.values()) {
      const t = s.nextTimerNs();
      if (t === undefined || t > tNs) continue;
      const io: TcpIo = { segments: [], events: [] };
      s.fireTimer(tNs, io);
      this.flushTcp(this.tcpRemote.get(s.flow)!, io, tNs, out);
    }
    return out;
  }

  /**
   * The MSS of a frame this stack built as a TSO segment (its TCP payload is larger than one
   * MSS and the device must cut it), or undefined for an ordinary frame.
   */
  gsoSizeOf(frame: Buffer): number | undefined {
    return this.gsoFrames.get(frame);
  }

  // ---- stats --------------------------------------------------------------------------

  stats(): NetStackStats {
    const flows: FlowStats[] = [];
    let retransmissions = 0;
    for (const s of this.tcpSenders.values()) {
      const t = s.stats();
      retransmissions += t.retransmissions;
      flows.push({
        flow: s.flow, protocol: 'tcp', role: 'sender', state: s.state, bytesSent: t.bytesSent, bytesAcked: t.bytesAcked,
        bytesDelivered: 0, datagrams: 0, retransmissions: t.retransmissions, corruptBytes: 0, tcp: t,
      });
    }
    for (const s of this.tcpSinks.values()) {
      const t = s.stats();
      flows.push({
        flow: s.flow, protocol: 'tcp', role: 'receiver', state: s.state, bytesSent: 0, bytesAcked: 0,
        bytesDelivered: t.bytesDelivered, datagrams: 0, retransmissions: 0, corruptBytes: t.corruptBytes, tcp: t,
      });
    }
    for (const c of this.udpFlows.values()) {
      const bulk = this.udpBulks.get(c.flow);
      flows.push({
        flow: c.flow, protocol: 'udp', role: c.role, state: bulk ? (bulk.done ? 'done' : 'sending') : 'open',
        bytesSent: c.role === 'sender' ? c.bytes : 0, bytesAcked: 0, bytesDelivered: c.role === 'receiver' ? c.bytes : 0,
        datagrams: c.datagrams, retransmissions: 0, corruptBytes: 0,
      });
    }
    return {
      framesIn: this.c.framesIn, framesOut: this.c.framesOut, bytesIn: this.c.bytesIn, bytesOut: this.c.bytesOut,
      drops: { ...this.drops },
      retransmissions,
      arp: { entries: this.arp.entries().length, queued: this.arp.queuedPackets(), requestsSent: this.c.arpRequestsSent, repliesSent: this.c.arpRepliesSent },
      forwarded: this.c.forwarded,
      icmp: { echoRequestsSent: this.c.echoRequestsSent, echoRepliesSent: this.c.echoRepliesSent, echoRepliesReceived: this.c.echoRepliesReceived },
      flows,
    };
  }

  /** One flow's stats (TCP or UDP), or undefined. */
  flowStats(flow: string): FlowStats | undefined {
    return this.stats().flows.find((f) => f.flow === flow);
  }

  // ---- helpers ------------------------------------------------------------------------

  private drop(out: StackOutput, reason: string): StackOutput {
    this.drops[reason] = (this.drops[reason] ?? 0) + 1;
    out.events.push({ kind: 'drop', reason });
    return out;
  }

  /** Runs a codec; a FrameError becomes a drop with its reason (bad bytes never throw out of receive()). */
  private decode<T>(out: StackOutput, fn: () => T): T | undefined {
    try {
      return fn();
    } catch (e) {
      if (e instanceof FrameError) { this.drop(out, e.reason); return undefined; }
      throw e;
    }
  }

  private checkFits(ipPayload: number, what: string): void {
    if (IP_HEADER + ipPayload > this.mtu) {
      throw new NetStackError('too_big', `${what} of ${ipPayload} bytes exceeds mtu ${this.mtu} - ${IP_HEADER} (no fragmentation)`);
    }
  }

  private ephemeralPort(): number {
    const used = new Set<number>(this.udpPorts);
    for (const s of this.tcpSenders.values()) used.add(s.localPort);
    for (const b of this.udpBulks.values()) used.add(b.srcPort);
    for (let i = 0; i <= 0xffff - EPHEMERAL_FIRST; i++) {
      const p = this.nextEphemeral;
      this.nextEphemeral = p === 0xffff ? EPHEMERAL_FIRST : p + 1;
      if (!used.has(p)) return p;
    }
    throw new NetStackError('port_in_use', 'no free ephemeral port');
  }
}

/** RFC 793's reset for a segment that reached no connection. */
function resetFor(seg: TcpSegment): TcpSegment {
  const len = seg.payload.length + ((seg.flags & TCP_SYN) ? 1 : 0) + ((seg.flags & 1) ? 1 : 0);
  return seg.flags & TCP_ACK
    ? { srcPort: seg.dstPort, dstPort: seg.srcPort, seq: seg.ack, ack: 0, flags: TCP_RST, window: 0, payload: Buffer.alloc(0) }
    : { srcPort: seg.dstPort, dstPort: seg.srcPort, seq: 0, ack: seqAdd(seg.seq, len), flags: TCP_RST | TCP_ACK, window: 0, payload: Buffer.alloc(0) };
}

function checkIp(ip: Ip, what: string): void {
  try {
    ipToNumber(ip);
  } catch {
    throw new NetStackError('bad_argument', `${what} is not an IPv4 address: ${String(ip)}`);
  }
}

function positiveInt(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 1) throw new NetStackError('bad_argument', `${what} must be an integer >= 1, got ${n}`);
  return n;
}

function positiveNumber(n: number, what: string): number {
  if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0) throw new NetStackError('bad_argument', `${what} must be a positive number, got ${n}`);
  return n;
}
