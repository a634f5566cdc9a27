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
  // MACs and IPs are unique per layer-2 network: the untunnelled one (NICs and interfaces
  // without a VNI) and each VXLAN network, where the same addresses may live again.
  const macs = new Map<string, PathSegment[]>();
  const scoped = (vni: number | undefined, v: string) => `${vni ?? 0}|${v}`;
  const inVni = (vni: number | undefined) => (vni === undefined ? '' : ` in VNI ${vni}`);
  const claimMac = (mac: string, path: PathSegment[], vni?: number) => {
    const first = macs.get(scoped(vni, mac));
    if (first) add(path, `duplicate MAC ${mac}${inVni(vni)} (already used at ${formatPath(first)})`);
    else macs.set(scoped(vni, mac), path);
    if (parseInt(mac.slice(0, 2), 16) & 1) add(path, `${mac} is a multicast MAC; an interface needs a unicast one`);
  };
  const ips = new Map<string, PathSegment[]>();
  const underlays = new Map<string, PathSegment[]>();
  /** The NIC that carries each host's VXLAN traffic (the NIC of its VNI interfaces). */
  const tunnelNic = new Map<string, string>();
  /** Hosts with interfaces in each VNI. */
  const vniHosts = new Map<number, Set<string>>();

  t.hosts.forEach((h, hi) => {
    const hp: PathSegment[] = ['hosts', hi];
    claimName(h.name, [...hp, 'name']);
    const cpuOk = (cpu: number) => cpu < h.cpus.count;

    h.driver_domain.cpus.forEach((c, ci) => {
      if (!cpuOk(c)) add([...hp, 'driver_domain', 'cpus', ci], `cpu ${c} does not exist: host ${h.name} has ${h.cpus.count} CPUs (0..${h.cpus.count - 1})`);
    });
    if (h.driver_domain.ip !== undefined && h.driver_domain.switch !== 'bridge') add([...hp, 'driver_domain', 'ip'], `the driver domain's own address sits on its bridge; host ${h.name} runs the ${h.driver_domain.switch}`);
    if (h.driver_domain.ip !== undefined) {
      const first = ips.get(scoped(undefined, h.driver_domain.ip));
      if (first) add([...hp, 'driver_domain', 'ip'], `duplicate IP ${h.driver_domain.ip} (already used at ${formatPath(first)})`);
      else ips.set(scoped(undefined, h.driver_domain.ip), [...hp, 'driver_domain', 'ip']);
    }
    const firstNic = h.nics[0];
    if (h.driver_domain.ip !== undefined && firstNic && h.guests.some((g) => g.interfaces.some((i) => i.nic === firstNic.name && (i.arch === 'native' || (i.arch === 'passthrough' && !firstNic.sriov)))))
      add([...hp, 'driver_domain', 'ip'], `the driver domain's own address sits on its first NIC's bridge, and ${firstNic.name} of host ${h.name} is given whole to a guest (passthrough or native)`);
    if (h.driver_domain.ip !== undefined && h.nics.length === 0) add([...hp, 'driver_domain', 'ip'], `the driver domain's own address sits on its first NIC's bridge, and host ${h.name} has no NIC`);
    if (h.driver_domain.routes && h.driver_domain.switch !== 'router') add([...hp, 'driver_domain', 'routes'], `routes need driver_domain.switch: router (host ${h.name} runs the ${h.driver_domain.switch})`);
    const devs = new Set([...h.nics.map((n) => n.name), ...h.guests.map((g) => g.name)]);
    const labIps = new Set(t.hosts.flatMap((x) => x.guests.flatMap((g) => g.interfaces.map((i) => i.ip))));
    (h.driver_domain.routes ?? []).forEach((r, ri) => {
      const rp: PathSegment[] = [...hp, 'driver_domain', 'routes', ri];
      if (!devs.has(r.dev)) add([...rp, 'dev'], `dev "${r.dev}" is neither a NIC nor a guest of host ${h.name} (${[...devs].join(', ')})`);
      if (r.iif !== undefined && !devs.has(r.iif)) add([...rp, 'iif'], `iif "${r.iif}" is neither a NIC nor a guest of host ${h.name} (${[...devs].join(', ')})`);
      if (r.via !== undefined && !labIps.has(r.via)) add([...rp, 'via'], `via ${r.via} is no guest's address: the router knows the neighbours of the lab's guests only`);
      if (r.via === undefined && r.dst !== 'default' && !labIps.has(r.dst)) add([...rp, 'dst'], `${r.dst} is no guest's address: give a via that is one`);
    });

    if (h.underlay) {
      const first = underlays.get(h.underlay.ip);
      if (first) add([...hp, 'underlay', 'ip'], `duplicate underlay address ${h.underlay.ip} (already used at ${formatPath(first)})`);
      else underlays.set(h.underlay.ip, [...hp, 'underlay', 'ip']);
    }

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
        claimMac(i.mac, [...ip, 'mac'], i.vni);
        const firstIp = ips.get(scoped(i.vni, i.ip));
        if (firstIp) add([...ip, 'ip'], `duplicate IP ${i.ip}${inVni(i.vni)} (already used at ${formatPath(firstIp)})`);
        else ips.set(scoped(i.vni, i.ip), [...ip, 'ip']);
        if (i.vni !== undefined) {
          const vp: PathSegment[] = [...ip, 'vni'];
          if (i.arch !== 'pv') add(vp, `a VNI needs a pv interface (a port of dom0's vswitch); arch ${i.arch} bypasses the switch`);
          else if (h.driver_domain.switch !== 'vswitch') add(vp, `VNI ${i.vni} needs driver_domain.switch: vswitch on host ${h.name} (a bridge has no VXLAN)`);
          else if (!h.underlay) add(vp, `VNI ${i.vni} needs an underlay address on host ${h.name} (underlay: { ip: ... }), its VTEP`);
          else if (i.nic !== undefined) {
            const nic = tunnelNic.get(h.name);
            if (nic !== undefined && nic !== i.nic) add([...ip, 'nic'], `host ${h.name} tunnels through ${nic}; every VNI interface of a host uses the same NIC`);
            else tunnelNic.set(h.name, i.nic);
            vniHosts.set(i.vni, (vniHosts.get(i.vni) ?? new Set()).add(h.name));
          }
        }
        if (i.rx_mode === 'flip' && i.arch !== 'pv') add([...ip, 'rx_mode'], `rx_mode flip is a pv receive path; arch ${i.arch} has none`);
        if (i.rx_mode === 'flip' && g.superpages) add([...ip, 'rx_mode'], `rx_mode flip gives pages away one by one, which splits a superpage: guest ${g.name} has superpages (Menon et al. 2006 receive by copy with them)`);
        else if (i.rx_mode === 'flip' && h.driver_domain.superpages) add([...ip, 'rx_mode'], `rx_mode flip has the driver domain give its pages away one by one, which splits a superpage: host ${h.name}'s driver domain has superpages (Menon et al. 2006 receive by copy with them)`);
        if (i.tx_mode !== 'copy' && i.arch !== 'pv') add([...ip, 'tx_mode'], `tx_mode ${i.tx_mode} is a pv transmit path (netback); arch ${i.arch} has none`);
        if ((i.offload.csum || i.offload.tso) && i.arch !== 'pv') add([...ip, 'offload'], `offload is a feature of pv's virtual interface (netfront/netback); arch ${i.arch} has none`);
        if (i.nic === undefined) {
          if (NEEDS_NIC.has(i.arch)) add([...ip, 'nic'], `arch ${i.arch} needs a NIC, and host ${h.name} has none`);
          return;
        }
        if (!nicNames.has(i.nic)) {
          add([...ip, 'nic'], `no NIC "${i.nic}" on host ${h.name}${nicNames.size ? ` (it has ${[...nicNames.keys()].join(', ')})` : ''}`);
          return;
        }
        nicUsers.set(i.nic, [...(nicUsers.get(i.nic) ?? []), [...ip, 'nic']]);
        const sriov = h.nics[nicNames.get(i.nic)!]!.sriov;
        // on an SR-IOV NIC a passthrough interface takes a virtual function: a queue set like cdna's
        if (QUEUE_SET_ARCHS.has(i.arch) || (i.arch === 'passthrough' && sriov)) queueUsers.set(i.nic, (queueUsers.get(i.nic) ?? 0) + 1);
        if (i.arch === 'native' && sriov) add([...ip, 'arch'], `a native host drives its NIC itself: NIC ${i.nic} cannot also offer virtual functions (sriov)`);
        if (i.arch === 'passthrough' && !sriov) {
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
        add([...hp, 'nics', nicNames.get(nic)!, 'queue_sets'], `NIC ${nic} has ${n.queue_sets} queue set${n.queue_sets === 1 ? '' : 's'}: queue set 0 is the driver domain's, and ${users} multiqueue/cdna interfaces and passthrough virtual functions need one more each (${users + 1} in all)`);
      }
    }

    const needed = guestMemory + h.driver_domain.memory_mib;
    if (needed > h.memory_mib) {
      add([...hp, 'memory_mib'], `${h.memory_mib} MiB cannot hold the driver domain (${h.driver_domain.memory_mib} MiB) and the guests (${guestMemory} MiB): ${needed} MiB needed`);
    }
  });

  const linked = new Map<string, PathSegment[]>();
  const linkNames = new Map<string, number>();
  /** The link each NIC is on. */
  const linkOf = new Map<string, number>();
  t.links.forEach((l, li) => {
    const lp: PathSegment[] = ['links', li];
    const first = linkNames.get(l.name);
    if (first !== undefined) add([...lp, 'name'], `duplicate link name "${l.name}" (already used at links[${first}])`);
    else linkNames.set(l.name, li);
    l.ends.forEach((endpoint, ei) => {
      const ep: PathSegment[] = l.form === 'cable' ? [...lp, ei === 0 ? 'a' : 'b'] : [...lp, 'ends', ei];
      const dup = l.ends.indexOf(endpoint);
      if (dup < ei) { add(ep, l.form === 'cable' ? `a link cannot join ${endpoint} to itself` : `${endpoint} is already an end of this link`); return; }
      const { host, nic } = parseEndpoint(endpoint);
      const h = t.hosts.find((x) => x.name === host);
      if (!h) { add(ep, `no host "${host}" in the lab`); return; }
      if (!h.nics.some((n) => n.name === nic)) { add(ep, `no NIC "${nic}" on host ${host}`); return; }
      const firstEnd = linked.get(endpoint);
      if (firstEnd) add(ep, `${endpoint} is already linked at ${formatPath(firstEnd)}; a NIC has one cable`);
      else { linked.set(endpoint, ep); linkOf.set(endpoint, li); }
    });
  });

  // Every two hosts sharing a VNI need their tunnel NICs on one link: the VTEPs reach each
  // other over the fabric (there is no routed underlay between links).
  for (const [vni, hostSet] of vniHosts) {
    const hs = [...hostSet];
    for (let i = 0; i < hs.length; i++) for (let j = i + 1; j < hs.length; j++) {
      const a = `${hs[i]}/${tunnelNic.get(hs[i]!)}`;
      const b = `${hs[j]}/${tunnelNic.get(hs[j]!)}`;
      const la = linkOf.get(a);
      if (la === undefined || la !== linkOf.get(b)) {
        const hi = t.hosts.findIndex((x) => x.name === hs[j]);
        add(['hosts', hi, 'underlay'], `hosts ${hs[i]} and ${hs[j]} both have VNI ${vni}, but no link joins ${a} and ${b}`);
      }
    }
  }
  return problems;
}
