// Where a host's machine memory lives and how big its domains are: shared by every service
// of the host (the memory file is the host's RAM).
import { join } from 'node:path';
import type { Host, RouteSpec, Topology } from './types.js';

export function hostMemoryPath(memDir: string, lab: string, host: string): string {
  return join(memDir, `vnetlab-${lab}-${host}.mem`);
}

export function hostSpec(topo: Topology, name: string): Host {
  const h = topo.hosts.find((x) => x.name === name);
  if (!h) throw new Error(`host "${name}" is not in the topology (hosts: ${topo.hosts.map((x) => x.name).join(', ')})`);
  return h;
}

export const domainPages = (mib: number) => Math.floor(mib * 256);

/** Who owns which queue set of a host's NICs. */
export interface QueueSetAssignment {
  nic: string;
  /** Index of the NIC on its host (its interrupts are irq = nicIndex * 32 + qs). */
  nicIndex: number;
  qs: number;
  /** 'dom0' (the bridge uplink, or a multiqueue backend) or the guest that drives it. */
  owner: string;
  /** The guest the queue set serves (multiqueue, cdna, passthrough), if any. */
  guest?: string;
  arch: 'bridge' | 'multiqueue' | 'cdna' | 'passthrough' | 'native';
  macs: string[];
  promiscuous: boolean;
}

/** The physical interrupt of one queue set: each NIC has 32 vectors, one per queue set. */
export const queueSetIrq = (nicIndex: number, qs: number) => nicIndex * 32 + qs;

/**
 * Queue sets in a fixed order: on a NIC passed through (or a native host's NIC) queue set 0
 * is the guest's; otherwise queue set 0 is the driver domain's promiscuous bridge uplink
 * and every multiqueue or cdna interface gets the next one, in topology order.
 */
export function queueSetPlan(host: Host): QueueSetAssignment[] {
  const out: QueueSetAssignment[] = [];
  host.nics.forEach((nic, nicIndex) => {
    const users = host.guests.flatMap((g) => g.interfaces.filter((i) => i.nic === nic.name).map((i) => ({ g, i })));
    // a passthrough interface takes the whole NIC unless the NIC has virtual functions
    const direct = users.find((u) => u.i.arch === 'native' || (u.i.arch === 'passthrough' && !nic.sriov));
    if (direct) {
      out.push({ nic: nic.name, nicIndex, qs: 0, owner: direct.g.name, guest: direct.g.name, arch: direct.i.arch as 'passthrough' | 'native', macs: [direct.i.mac], promiscuous: false });
      return;
    }
    out.push({ nic: nic.name, nicIndex, qs: 0, owner: 'dom0', arch: 'bridge', macs: [], promiscuous: true });
    let qs = 1;
    for (const { g, i } of users) {
      if (i.arch !== 'multiqueue' && i.arch !== 'cdna' && i.arch !== 'passthrough') continue;
      out.push({ nic: nic.name, nicIndex, qs: qs++, owner: i.arch === 'multiqueue' ? 'dom0' : g.name, guest: g.name, arch: i.arch, macs: [i.mac], promiscuous: false });
    }
  });
  return out;
}

/**
 * Where a driver domain whose NIC failed can send its guests' traffic (seed 004): the first
 * other host on the same link whose NIC there is its driver domain's (a bridge uplink), with
 * that NIC. Undefined when the link joins no such host.
 */
export function redirectTarget(topo: Topology, host: string, nic: string): { host: string; nic: string } | undefined {
  // a routing dom0 neither lends nor borrows a bridge port: its guests are reached by route
  if (topo.hosts.find((x) => x.name === host)?.driver_domain.switch === 'router') return undefined;
  const end = `${host}/${nic}`;
  const link = topo.links.find((l) => l.ends.includes(end));
  if (!link) return undefined;
  for (const other of link.ends) {
    const [h, n] = other.split('/') as [string, string];
    if (h === host) continue;
    const spec = topo.hosts.find((x) => x.name === h);
    if (spec && spec.driver_domain.switch !== 'router' && queueSetPlan(spec).some((q) => q.nic === n && q.qs === 0 && q.owner === 'dom0')) return { host: h, nic: n };
  }
  return undefined;
}

/** The guests whose traffic crosses dom0's bridge on `nic` (pv and emulated interfaces): a NIC failure concerns them. */
export function bridgedGuests(host: Host, nic: string): Array<{ name: string; mac: string; ip: string; vni?: number }> {
  return host.guests.flatMap((g) => g.interfaces.filter((i) => i.nic === nic && (i.arch === 'pv' || i.arch === 'emulated')).map((i) => ({ name: g.name, mac: i.mac, ip: i.ip, ...(i.vni !== undefined ? { vni: i.vni } : {}) })));
}

/**
 * A routing driver domain's routes: those of the topology, or by default a host route to
 * each guest of the host behind dom0's switch (pv and emulated interfaces: out of its vif),
 * and to each guest of every host at the other end of one of the host's links (out of that
 * NIC) — what an operator would configure for a router between its NICs and its guests.
 */
export function routerRoutes(topo: Topology, host: Host): RouteSpec[] {
  if (host.driver_domain.routes) return host.driver_domain.routes;
  const out: RouteSpec[] = host.guests.flatMap((g) => g.interfaces.filter((i) => i.arch === 'pv' || i.arch === 'emulated').map((i) => ({ dst: i.ip, dev: g.name })));
  for (const nic of host.nics) {
    const link = topo.links.find((l) => l.ends.includes(`${host.name}/${nic.name}`));
    for (const end of link?.ends ?? []) {
      const peer = topo.hosts.find((x) => x.name === end.split('/')[0] && x.name !== host.name);
      for (const g of peer?.guests ?? []) for (const i of g.interfaces) out.push({ dst: i.ip, dev: nic.name });
    }
  }
  return out;
}
