// Rules that a JSON schema cannot say: names unique across the lab, references that
// resolve, resources that fit the host.
import type { PathSegment } from './topology_error.js';
import { formatPath } from './topology_error.js';
import type { Topology } from './types.js';
import { parseEndpoint } from './types.js';

export interface CheckProblem { path: PathSegment[]; message: string }

/** Interface architectures that own a NIC queue set (no bridge in the path). */
const QUEUE_SET_ARCHS = new Set(['multiqueue', 'cdna']);
/** Architectures that cannot work without a physical NIC. */
const NEEDS_NIC = new Set(['multiqueue', 'cdna', 'passthrough']);

export function checkTopology(t: Topology): CheckProblem[] {
  const problems: CheckProblem[] = [];
  const add = (path: PathSegment[], message: string) => problems.push({ path, message });

  // One namespace for hosts and guests: both name services, subjects and metrics labels.
  const names = new Map<string, PathSegment[]>();
  const claimName = (name: string, path: PathSegment[]) => {
    const first = names.get(name);
    if (first) add(path, `duplicate name "${name}" (already used at ${formatPath(first)})`);
    else names.set(name, path);
  };
  const macs = new Map<string, PathSegment[]>();
  const claimMac = (mac: string, path: PathSegment[]) => {
    const first = macs.get(mac);
    if (first) add(path, `duplicate MAC ${mac} (already used at ${formatPath(first)})`);
    else macs.set(mac, path);
    if (parseInt(mac.slice(0, 2), 16) & 1) add(path, `${mac} is a multicast MAC; an interface needs a unicast one`);
  };
  const ips = new Map<string, PathSegment[]>();

  t.hosts.forEach((h, hi) => {
    const hp: PathSegment[] = ['hosts', hi];
    claimName(h.name, [...hp, 'name']);
    const cpuOk = (cpu: number) => cpu < h.cpus.count;

    h.driver_domain.cpus.forEach((c, ci) => {
      if (!cpuOk(c)) add([...hp, 'driver_domain', 'cpus', ci], `cpu ${c} does not exist: host ${h.name} has ${h.cpus.count} CPUs (0..${h.cpus.count - 1})`);
    });

    const nicNames = new Map<string, number>();
    h.nics.forEach((n, ni) => {
      const np: PathSegment[] = [...hp, 'nics', ni];
      if (nicNames.has(n.name)) add([...np, 'name'], `duplicate NIC name "${n.name}" on host ${h.name}`);
      else nicNames.set(n.name, ni);
      claimMac(n.mac, [...np, 'mac']);
    });

    const queueUsers = new Map<string, number>();
    const passthroughOwner = new Map<string, PathSegment[]>();
    const nicUsers = new Map<string, PathSegment[][]>();
    let guestMemory = 0;
    h.guests.forEach((g, gi) => {
      const gp: PathSegment[] = [...hp, 'guests', gi];
      claimName(g.name, [...gp, 'name']);
      guestMemory += g.memory_mib;
      g.vcpus.forEach((c, ci) => {
        if (!cpuOk(c)) add([...gp, 'vcpus', ci], `cpu ${c} does not exist: host ${h.name} has ${h.cpus.count} CPUs (0..${h.cpus.count - 1})`);
      });
      g.interfaces.forEach((i, ii) => {
        const ip: PathSegment[] = [...gp, 'interfaces', ii];
        claimMac(i.mac, [...ip, 'mac']);
        const firstIp = ips.get(i.ip);
        if (firstIp) add([...ip, 'ip'], `duplicate IP ${i.ip} (already used at ${formatPath(firstIp)})`);
        else ips.set(i.ip, [...ip, 'ip']);
        if (i.rx_mode === 'flip' && i.arch !== 'pv') add([...ip, 'rx_mode'], `rx_mode flip is a pv receive path; arch ${i.arch} has none`);
        if (i.nic === undefined) {
          if (NEEDS_NIC.has(i.arch)) add([...ip, 'nic'], `arch ${i.arch} needs a NIC, and host ${h.name} has none`);
          return;
        }
        if (!nicNames.has(i.nic)) {
          add([...ip, 'nic'], `no NIC "${i.nic}" on host ${h.name}${nicNames.size ? ` (it has ${[...nicNames.keys()].join(', ')})` : ''}`);
          return;
        }
        nicUsers.set(i.nic, [...(nicUsers.get(i.nic) ?? []), [...ip, 'nic']]);
        if (QUEUE_SET_ARCHS.has(i.arch)) queueUsers.set(i.nic, (queueUsers.get(i.nic) ?? 0) + 1);
        if (i.arch === 'passthrough') {
          const other = passthroughOwner.get(i.nic);
          if (other) add([...ip, 'nic'], `NIC ${i.nic} is already passed through at ${formatPath(other)}`);
          else passthroughOwner.set(i.nic, ip);
        }
      });
    });

    // A passed-through NIC belongs to one guest: nobody else may use it.
    for (const [nic, owner] of passthroughOwner) {
      for (const user of nicUsers.get(nic) ?? []) {
        if (formatPath(user) !== formatPath([...owner, 'nic'])) add(user, `NIC ${nic} is passed through to ${formatPath(owner)} and cannot be shared`);
      }
    }
    for (const [nic, users] of queueUsers) {
      const n = h.nics[nicNames.get(nic)!]!;
      // queue set 0 stays the driver domain's (the bridge's uplink); the others are handed out
      if (users > n.queue_sets - 1) {
        add([...hp, 'nics', nicNames.get(nic)!, 'queue_sets'], `NIC ${nic} has ${n.queue_sets} queue set${n.queue_sets === 1 ? '' : 's'}: queue set 0 is the driver domain's, and ${users} multiqueue/cdna interfaces need one more each (${users + 1} in all)`);
      }
    }

    const needed = guestMemory + h.driver_domain.memory_mib;
    if (needed > h.memory_mib) {
      add([...hp, 'memory_mib'], `${h.memory_mib} MiB cannot hold the driver domain (${h.driver_domain.memory_mib} MiB) and the guests (${guestMemory} MiB): ${needed} MiB needed`);
    }
  });

  const linked = new Map<string, PathSegment[]>();
  t.links.forEach((l, li) => {
    const lp: PathSegment[] = ['links', li];
    if (l.a === l.b) add([...lp, 'b'], `a link cannot join ${l.a} to itself`);
    for (const end of ['a', 'b'] as const) {
      const ep = [...lp, end];
      const { host, nic } = parseEndpoint(l[end]);
      const h = t.hosts.find((x) => x.name === host);
      if (!h) { add(ep, `no host "${host}" in the lab`); continue; }
      if (!h.nics.some((n) => n.name === nic)) { add(ep, `no NIC "${nic}" on host ${host}`); continue; }
      if (end === 'b' && l.a === l.b) continue;
      const first = linked.get(l[end]);
      if (first) add(ep, `${l[end]} is already linked at ${formatPath(first)}; a NIC has one cable`);
      else linked.set(l[end], ep);
    }
  });
  return problems;
}
