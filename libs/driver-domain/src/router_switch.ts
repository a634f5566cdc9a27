// A routing driver domain: dom0 forwards IPv4 by route between its NICs and its guests' vifs
// instead of switching frames (Linux with ip_forward = 1 and proxy ARP, the "IP forwarding"
// column of Emmerich et al.'s Table I). Each port is its own link: a frame for the router's
// MAC is routed by destination (and, as with `ip rule iif`, by the port it came in on), its
// MACs rewritten for the next hop, its TTL decremented and its header checksum updated; one
// FIB lookup per frame ('ip_forward'). ARP for an address routed through another port is
// answered with the router's own MAC (proxy ARP), so the hosts on either side need no routes.
import { ARP_REPLY, ARP_REQUEST, ETHERTYPE_ARP, ETHERTYPE_IPV4, bytesToMac, buildArpFrame, decodeArp, macToBytes, type Mac } from '@vnetlab/frames';
import type { DomainSwitch, SwitchDecision, SwitchPortSpec } from './domain_switch.js';

/**
 * One route. Ports are named by key: a NIC's name for an uplink, a guest's IP for its vif
 * (the vif's name is known only once netback attaches it).
 */
export interface Route {
  /** Destination IPv4 address (a host route), or 'default'. */
  dst: string;
  /** The port the frame leaves by. */
  out: string;
  /** Next hop (its MAC is the neighbour's); absent: the destination itself. */
  via?: string;
  /** Only for frames that came in on this port (policy routing by incoming interface). */
  iif?: string;
}

export interface RouterOptions {
  routes: Route[];
  /** The lab's IPv4 → MAC neighbours (the toolstack knows every guest's). */
  neighbours: ReadonlyMap<string, Mac>;
  /** The router's own MAC on a port (by key): a NIC's address, or Xen's fe:ff:ff:ff:ff:ff on a vif. */
  portMac(key: string): Mac;
}

const VIF_MAC: Mac = 'fe:ff:ff:ff:ff:ff';

export class RouterSwitch implements DomainSwitch {
  readonly kind = 'router' as const;
  /** port name → key, and back */
  private readonly keyOf = new Map<string, string>();
  private readonly nameOf = new Map<string, string>();
  private readonly counters = { routed: 0, proxyArp: 0, noRoute: 0, ttlExceeded: 0, notForRouter: 0 };

  /** The routes, most specific first (policy routes before the rest, host routes before the default). */
  private readonly ranked: Route[];

  constructor(private readonly o: RouterOptions) {
    this.ranked = [...o.routes].sort((a, b) => rank(b) - rank(a));
  }

  /** The MAC of a vif port (Xen's backend MAC, never a guest's). */
  static readonly vifMac = VIF_MAC;

  addPort(p: SwitchPortSpec): void {
    const key = p.kind === 'uplink' ? p.name : p.ip ?? p.name;
    this.keyOf.set(p.name, key);
    this.nameOf.set(key, p.name);
  }

  removePort(name: string): void {
    const key = this.keyOf.get(name);
    this.keyOf.delete(name);
    if (key !== undefined && this.nameOf.get(key) === name) this.nameOf.delete(key);
  }

  stats(): typeof this.counters {
    return { ...this.counters };
  }

  /** The route a frame for `dst` that came in on port key `iif` takes: policy routes first, host routes before the default. */
  lookup(dst: string, iif: string): Route | undefined {
    return this.ranked.find((r) => (r.iif === undefined || r.iif === iif) && (r.dst === dst || r.dst === 'default'));
  }

  forward(inPort: string, bytes: Buffer): SwitchDecision {
    const iif = this.keyOf.get(inPort) ?? inPort;
    const charges: SwitchDecision['charges'] = [['ip_forward', 1]];
    const drop = (reason: string, detail: string): SwitchDecision => ({ outputs: [], drops: [reason], flooded: false, charges, steps: [{ step: 'fib_lookup', primitive: 'ip_forward', count: 1, detail }] });
    if (bytes.length < 14) return drop('malformed', `${bytes.length} bytes: no Ethernet header`);
    const type = bytes.readUInt16BE(12);
    if (type === ETHERTYPE_ARP) return this.arp(inPort, iif, bytes, drop);
    if (type !== ETHERTYPE_IPV4) return drop('not_ip', `ethertype 0x${type.toString(16)} on ${inPort}: a router forwards IPv4 only`);
    const dstMac = bytesToMac(bytes, 0);
    if (dstMac !== this.o.portMac(iif) && dstMac !== VIF_MAC) {
      this.counters.notForRouter++;
      return drop('not_for_router', `to ${dstMac} on ${inPort}: not the router's MAC (${this.o.portMac(iif)})`);
    }
    if (bytes.length < 34 || (bytes[14]! >> 4) !== 4) return drop('malformed', `on ${inPort}: not an IPv4 header`);
    const dst = `${bytes[30]}.${bytes[31]}.${bytes[32]}.${bytes[33]}`;
    const route = this.lookup(dst, iif);
    const out = route ? this.nameOf.get(route.out) : undefined;
    if (!route || out === undefined) {
      this.counters.noRoute++;
      return drop('no_route', `to ${dst} from ${inPort}: no route${route ? ` (its port ${route.out} is not attached)` : ''}`);
    }
    const ttl = bytes[22]!;
    if (ttl <= 1) {
      this.counters.ttlExceeded++;
      return drop('ttl_exceeded', `to ${dst} from ${inPort}: TTL ${ttl}`);
    }
    const hop = route.via ?? dst;
    const hopMac = this.o.neighbours.get(hop);
    if (!hopMac) {
      this.counters.noRoute++;
      return drop('no_neighbour', `to ${dst} via ${hop}: no neighbour entry`);
    }
    // the routed copy: next hop's MAC, the router's own as source, TTL − 1, checksum updated (RFC 1624)
    const f = Buffer.from(bytes);
    macToBytes(hopMac).copy(f, 0);
    macToBytes(this.o.portMac(route.out)).copy(f, 6);
    f[22] = ttl - 1;
    // TTL is the high byte of its word: −1 there is +0x0100 in the stored complement (Linux's ip_decrease_ttl)
    const c = f.readUInt16BE(24) + 0x0100;
    f.writeUInt16BE((c + (c >= 0xffff ? 1 : 0)) & 0xffff, 24);
    this.counters.routed++;
    return {
      outputs: [{ port: out, bytes: f }],
      drops: [],
      flooded: false,
      charges,
      steps: [{ step: 'fib_lookup', primitive: 'ip_forward', count: 1, detail: `route to ${dst}${route.iif ? ` from ${route.iif}` : ''}: via ${hop} on ${out} (${hopMac}), TTL ${ttl} → ${ttl - 1}` }],
    };
  }

  /** Proxy ARP: a request for an address routed through another port is answered with the router's MAC on this one. */
  private arp(inPort: string, iif: string, bytes: Buffer, drop: (reason: string, detail: string) => SwitchDecision): SwitchDecision {
    let p;
    try {
      p = decodeArp(bytes.subarray(14));
    } catch {
      return drop('malformed', `on ${inPort}: not an ARP packet`);
    }
    if (p.op !== ARP_REQUEST) return drop('arp_consumed', `ARP reply from ${p.senderIp} on ${inPort}: taken by the router`);
    const route = this.lookup(p.targetIp, iif);
    if (!route || route.out === iif || !this.nameOf.has(route.out)) return drop('arp_not_proxied', `who-has ${p.targetIp} on ${inPort}: not routed through another port`);
    const mine = this.o.portMac(iif);
    this.counters.proxyArp++;
    const reply = buildArpFrame({ op: ARP_REPLY, senderMac: mine, senderIp: p.targetIp, targetMac: p.senderMac, targetIp: p.senderIp });
    return {
      outputs: [{ port: inPort, bytes: reply }],
      drops: [],
      flooded: false,
      charges: [['ip_forward', 1]],
      steps: [{ step: 'proxy_arp', primitive: 'ip_forward', count: 1, detail: `who-has ${p.targetIp} tell ${p.senderIp} on ${inPort}: ${p.targetIp} is at ${mine} (proxy ARP: routed via ${route.out})` }],
    };
  }
}

const rank = (r: Route) => (r.dst === 'default' ? 0 : 2) + (r.iif !== undefined ? 1 : 0);
