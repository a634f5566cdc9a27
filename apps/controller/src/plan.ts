// The lab plan: which service processes a topology needs, with their ports and arguments.
import type { Topology } from '@vnetlab/topology';

export type ServiceKind = 'fabric' | 'hypervisor' | 'nic' | 'driver-domain' | 'guest';

export interface ServicePlan {
  kind: ServiceKind;
  name: string;            // unique in the lab, e.g. "host-a/hypervisor", "vm-a1"
  host?: string;
  httpPort: number;
  grpcPort: number;
  args: string[];          // extra service-specific arguments
}

export interface LabPlan {
  name: string;
  services: ServicePlan[];
}

/** Ports are assigned by the launcher. Start order matters: the hypervisor creates the domains, NICs come before the driver
 * domain that drives them, guests come last. */
export function planLab(topo: Topology): LabPlan {
  const services: ServicePlan[] = [];
  const add = (kind: ServiceKind, name: string, host: string | undefined, args: string[]) =>
    services.push({ kind, name, host, httpPort: 0, grpcPort: 0, args });
  add('fabric', 'fabric', undefined, []);
  for (const h of topo.hosts) add('hypervisor', `${h.name}/hypervisor`, h.name, ['--host', h.name]);
  for (const h of topo.hosts)
    for (const n of h.nics) add('nic', `${h.name}/${n.name}`, h.name, ['--host', h.name, '--nic', n.name]);
  for (const h of topo.hosts) add('driver-domain', `${h.name}/dom0`, h.name, ['--host', h.name]);
  for (const h of topo.hosts)
    for (const g of h.guests) add('guest', g.name, h.name, ['--host', h.name, '--guest', g.name]);
  return { name: topo.name, services };
}

export function hypervisorOf(plan: LabPlan, host: string): ServicePlan {
  const s = plan.services.find((x) => x.kind === 'hypervisor' && x.host === host);
  if (!s) throw new Error(`no hypervisor for host ${host}`);
  return s;
}
