// Fills every default so the rest of the lab never guesses. Generated addresses are
// deterministic (a function of position in the file) and avoid every address the file
// gives explicitly, so adding a MAC by hand never shifts or collides with the others.
import type { Guest, GuestInterface, Host, Link, Nic, Topology } from './types.js';
import { parseEndpoint } from './types.js';

export const DEFAULT_LATENCY_NS = 50_000;
export const DEFAULT_UNDERLAY_MTU = 1500;
export const DEFAULT_DRIVER_DOMAIN = { cpus: [0], memory_mib: 64, switch: 'bridge' } as const;
/** Xen's OUI: the prefix its toolstack gives generated vif MACs. */
export const XEN_OUI = '00:16:3e';
/** Locally administered prefix for generated physical NIC MACs. */
export const NIC_MAC_PREFIX = '02:00:00';
const FIRST_GENERATED_IP = (10 << 24) + 1; // 10.0.0.1

/* eslint-disable @typescript-eslint/no-explicit-any */
type Raw = any;

function hex2(n: number): string { return n.toString(16).padStart(2, '0'); }

function macFrom(prefix: string, suffix: number): string {
  return `${prefix}:${hex2((suffix >>> 16) & 255)}:${hex2((suffix >>> 8) & 255)}:${hex2(suffix & 255)}`;
}

function ipFrom(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** Offloads are off unless the file turns them on. */
function offloadOf(o: Raw): { csum: boolean; tso: boolean } {
  return { csum: o?.csum === true, tso: o?.tso === true };
}

/** Input must already satisfy the JSON schema. */
export function applyDefaults(raw: Raw): Topology {
  const usedMacs = new Set<string>();
  const usedIps = new Set<string>();
  for (const h of raw.hosts) {
    for (const n of h.nics ?? []) if (n.mac) usedMacs.add(String(n.mac).toLowerCase());
    for (const g of h.guests ?? []) for (const i of g.interfaces ?? []) {
      if (i.mac) usedMacs.add(String(i.mac).toLowerCase());
      if (i.ip) usedIps.add(i.ip);
    }
  }
  const freshMac = (prefix: string, suffix: number): string => {
    let s = suffix & 0xffffff;
    while (usedMacs.has(macFrom(prefix, s))) s = (s + 1) & 0xffffff;
    const m = macFrom(prefix, s);
    usedMacs.add(m);
    return m;
  };
  let nextIp = FIRST_GENERATED_IP;
  const freshIp = (): string => {
    // skip .0 and .255 host parts and anything given explicitly
    while ((nextIp & 255) === 0 || (nextIp & 255) === 255 || usedIps.has(ipFrom(nextIp))) nextIp++;
    const ip = ipFrom(nextIp++);
    usedIps.add(ip);
    return ip;
  };

  const hosts: Host[] = raw.hosts.map((h: Raw, hi: number): Host => {
    const nics: Nic[] = (h.nics ?? []).map((n: Raw, ni: number): Nic => ({
      name: n.name,
      rate_bps: n.rate_bps,
      queue_sets: n.queue_sets ?? 1,
      mac: n.mac ? String(n.mac).toLowerCase() : freshMac(NIC_MAC_PREFIX, ((hi + 1) << 16) | (ni + 1)),
      offload: offloadOf(n.offload),
      bridge: n.bridge ?? n.name,
      sriov: n.sriov === true,
    }));
    const guests: Guest[] = (h.guests ?? []).map((g: Raw, gi: number): Guest => ({
      name: g.name,
      memory_mib: g.memory_mib,
      vcpus: [...g.vcpus],
      ip_forward: g.ip_forward === true,
      // a native host is Linux on the hardware: its kernel maps itself with superpages
      superpages: g.superpages ?? (g.interfaces ?? []).some((i: Raw) => i.arch === 'native'),
      interfaces: (g.interfaces ?? []).map((i: Raw, ii: number): GuestInterface => {
        const iface: GuestInterface = {
          arch: i.arch,
          mac: i.mac ? String(i.mac).toLowerCase() : freshMac(XEN_OUI, ((hi + 1) << 16) | ((gi + 1) << 8) | (ii + 1)),
          ip: i.ip ?? freshIp(),
          rx_mode: i.rx_mode ?? 'copy',
          tx_mode: i.tx_mode ?? 'copy',
          offload: offloadOf(i.offload),
        };
        const nic = i.nic ?? nics[0]?.name;
        if (nic !== undefined) iface.nic = nic;
        if (i.vni !== undefined) iface.vni = i.vni;
        return iface;
      }),
    }));
    const dd = h.driver_domain ?? {};
    const underlay = h.underlay ? { underlay: { ip: h.underlay.ip, mtu: h.underlay.mtu ?? DEFAULT_UNDERLAY_MTU } } : {};
    return {
      name: h.name,
      cpus: { count: h.cpus.count, hz: h.cpus.hz },
      memory_mib: h.memory_mib,
      driver_domain: {
        cpus: [...(dd.cpus ?? DEFAULT_DRIVER_DOMAIN.cpus)],
        memory_mib: dd.memory_mib ?? DEFAULT_DRIVER_DOMAIN.memory_mib,
        switch: dd.switch ?? DEFAULT_DRIVER_DOMAIN.switch,
        superpages: dd.superpages === true,
        ...(dd.ip !== undefined ? { ip: dd.ip } : {}),
        ...(Array.isArray(dd.routes) ? { routes: dd.routes.map((r: Raw) => ({ dst: r.dst, dev: r.dev, ...(r.via !== undefined ? { via: r.via } : {}), ...(r.iif !== undefined ? { iif: r.iif } : {}) })) } : {}),
      },
      nics,
      guests,
      ...underlay,
    };
  });

  const nicRate = (endpoint: string): number | undefined => {
    const { host, nic } = parseEndpoint(endpoint);
    return hosts.find((h) => h.name === host)?.nics.find((n) => n.name === nic)?.rate_bps;
  };
  const links: Link[] = (raw.links ?? []).map((l: Raw, li: number): Link => {
    // a link written with both forms (or neither) is reported by the checks
    const ends: string[] = l.ends ? [...l.ends] : [l.a, l.b].filter((e) => e !== undefined);
    const rates = ends.map(nicRate).filter((r): r is number => r !== undefined);
    return {
      name: l.name ?? `link${li}`,
      ends,
      form: l.ends ? 'segment' : 'cable',
      a: ends[0] ?? '',
      b: ends[1] ?? '',
      // a dangling endpoint is reported by the checks; 0 only stands in until then
      rate_bps: l.rate_bps ?? (rates.length ? Math.min(...rates) : 0),
      latency_ns: l.latency_ns ?? DEFAULT_LATENCY_NS,
      loss: l.loss ?? 0,
    };
  });
  return { name: raw.name, hosts, links };
}
