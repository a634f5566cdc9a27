// Where a host's machine memory lives and how big its domains are: shared by every service
// of the host (the memory file is the host's RAM).
import { join } from 'node:path';
import type { Host, Topology } from './types.js';

export function hostMemoryPath(memDir: string, lab: string, host: string): string {
  return join(memDir, `vnetlab-${lab}-${host}.mem`);
}

export function hostSpec(topo: Topology, name: string): Host {
  const h = topo.hosts.find((x) => x.name === name);
  if (!h) throw new Error(`host "${name}" is not in the topology (hosts: ${topo.hosts.map((x) => x.name).join(', ')})`);
  return h;
}

export const domainPages = (mib: number) => Math.floor(mib * 256);
