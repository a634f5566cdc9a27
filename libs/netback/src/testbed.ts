// Test fixture (not built into dist): one host with a real Hypervisor over
// BufferMachineMemory, dom0 and one guest, and the ports bound by direct calls.
import { CostTable, Cpu, Ledger } from '@vnetlab/cost';
import { GrantTableWriter, Hypervisor } from '@vnetlab/hypervisor';
import { BufferMachineMemory, GuestMemory, PagePool } from '@vnetlab/memory';
import { Netfront, type FrontendHypervisorPort } from '@vnetlab/netfront';
import { Netback, type RxMode } from './netback.js';
import type { HypervisorPort } from './hypervisor_port.js';

export interface Testbed {
  mem: BufferMachineMemory;
  hv: Hypervisor;
  ledger: Ledger;
  dom0: GuestMemory;
  guest: GuestMemory;
  guestDomid: number;
  dom0Pool: PagePool;
  guestPool: PagePool;
  grants: GrantTableWriter;
  netfront: Netfront;
  netback: Netback;
  /** Every hypercall the backend made, in order. */
  calls: string[];
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

export async function testbed(opts: { rxMode?: RxMode; guestPages?: number; dom0Pages?: number; rxBuffers?: number; txQueueLen?: number; connect?: boolean; features?: { sg: boolean; gsoTcpv4: boolean } } = {}): Promise<Testbed> {
  const rxMode = opts.rxMode ?? 'copy';
  const guestPages = opts.guestPages ?? 64;
  const dom0Pages = opts.dom0Pages ?? 64;
  const mem = new BufferMachineMemory(guestPages + dom0Pages + 64);
  const costs = new CostTable();
  const ledger = new Ledger(costs);
  const hv = new Hypervisor({ mem, costs });
  const d0 = hv.createDomain('dom0', dom0Pages);
  const g = hv.createDomain('guest1', guestPages);
  const dom0 = new GuestMemory(mem, d0.p2m);
  const guest = new GuestMemory(mem, g.p2m);
  const grants = new GrantTableWriter(mem, g.grantFrames);
  // gfn 0 stays out of the pools (the guest's kernel, say): pools hold the rest
  const dom0Pool = new PagePool(range(1, dom0Pages));
  const guestPool = new PagePool(range(1, guestPages));
  const calls: string[] = [];
  const port: HypervisorPort = {
    grantCopy: async (ops) => (calls.push(`grantCopy(${ops.length})`), hv.grantCopy(d0.domid, ops)),
    grantMap: async (granter, gref, ro) => (calls.push('grantMap'), hv.grantMap(d0.domid, granter, gref, ro)),
    grantTransfer: async (gfn, to, gref) => (calls.push('grantTransfer'), hv.grantTransfer(d0.domid, gfn, to, gref)),
    populatePhysmap: async (gfn) => (calls.push('populatePhysmap'), hv.populatePhysmap(d0.domid, gfn)),
    grantUnmapBatch: async (handles) => (calls.push(`grantUnmapBatch(${handles.length})`), handles.map((h) => hv.grantUnmap(d0.domid, h))),
  };
  const frontPort: FrontendHypervisorPort = { acceptTransfer: async (gref, gfn) => hv.acceptTransfer(g.domid, gref, gfn) };
  const netfront = new Netfront({
    mem: guest, grants, backendDomid: d0.domid, rxMode, pages: guestPool, cpu: new Cpu('cpu1', 2.8e9, ledger),
    domain: 'guest1', hv: frontPort, rxBuffers: opts.rxBuffers, txQueueLen: opts.txQueueLen,
  });
  const netback = new Netback({ frontDomid: g.domid, mem, dom0, pages: dom0Pool, hv: port, cpu: new Cpu('cpu0', 2.8e9, ledger), rxMode, ...(opts.features ? { features: opts.features } : {}) });
  const tb: Testbed = { mem, hv, ledger, dom0, guest, guestDomid: g.domid, dom0Pool, guestPool, grants, netfront, netback, calls };
  if (opts.connect !== false) {
    const { txRingRef, rxRingRef } = netfront.setup();
    await netback.connect(txRingRef, rxRingRef, 0);
  }
  return tb;
}

/** A recognisable Ethernet frame of `len` bytes. */
export function frame(len: number, seed: number): Buffer {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = (seed * 31 + i * 7) & 0xff;
  return b;
}
