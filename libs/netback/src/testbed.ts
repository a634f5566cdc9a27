// Test fixture (not built into dist): one host with a real Hypervisor over
// BufferMachineMemory, dom0 and one guest, and the ports bound by direct calls.
import { CostTable, Cpu, Ledger } from '@vnetlab/cost';
import { GrantTableWriter, Hypervisor, charges, type Charges } from '@vnetlab/hypervisor';
import { BufferMachineMemory, GuestMemory, PagePool } from '@vnetlab/memory';
import { Netfront, type FrontendHypervisorPort } from '@vnetlab/netfront';
import { FrontRing, initSharedRing, txRequestCodec, txResponseCodec, type RingPage } from '@vnetlab/ring';
import { Netback, type RxMode, type TxMode } from './netback.js';
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

/** A batch's results with its whole price on the first (one trap) and the breakdown beside it. */
function priced<T extends { cycles: number }>(results: T[], of: (r: T[]) => Charges): Array<T & { charges?: Charges }> {
  const total = results.reduce((n, r) => n + r.cycles, 0);
  return results.map((r, i) => (i === 0 ? { ...r, cycles: total, charges: of(results) } : { ...r, cycles: 0 }));
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

export async function testbed(opts: { rxMode?: RxMode; txMode?: TxMode; onTxDone?: () => void; guestPages?: number; dom0Pages?: number; rxBuffers?: number; txQueueLen?: number; connect?: boolean; features?: { sg: boolean; gsoTcpv4: boolean } } = {}): Promise<Testbed> {
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
    // the whole batch's breakdown rides on its first result, as the hypercall client gives it
    grantCopy: async (ops) => (calls.push(`grantCopy(${ops.length})`), priced(hv.grantCopy(d0.domid, ops), (r) => charges.grantCopy(ops.length, ops.reduce((n, o, i) => n + (r[i]!.status === 0 ? o.len : 0), 0)))),
    grantMap: async (granter, gref, ro) => (calls.push('grantMap'), hv.grantMap(d0.domid, granter, gref, ro)),
    grantTransfer: async (gfn, to, gref) => (calls.push('grantTransfer'), hv.grantTransfer(d0.domid, gfn, to, gref)),
    populatePhysmap: async (gfn) => (calls.push('populatePhysmap'), hv.populatePhysmap(d0.domid, gfn)),
    grantMapBatch: async (ops) => (calls.push(`grantMapBatch(${ops.length}${ops.some((o) => o.deviceOnly) ? ', device' : ''})`),
      priced(ops.map((o) => hv.grantMap(d0.domid, o.granter, o.gref, o.readonly, o.deviceOnly)), () => charges.grantMapBatch(ops.length, ops.filter((o) => o.deviceOnly).length))),
    grantUnmapBatch: async (handles) => (calls.push(`grantUnmapBatch(${handles.length})`),
      priced(handles.map((h) => hv.grantUnmap(d0.domid, h)), (r) => charges.grantUnmapBatch(handles.length, r.filter((x) => x.device === true).length))),
  };
  const frontPort: FrontendHypervisorPort = { acceptTransfer: async (gref, gfn) => hv.acceptTransfer(g.domid, gref, gfn) };
  const netfront = new Netfront({
    mem: guest, grants, backendDomid: d0.domid, rxMode, pages: guestPool, cpu: new Cpu('cpu1', 2.8e9, ledger),
    domain: 'guest1', hv: frontPort, rxBuffers: opts.rxBuffers, txQueueLen: opts.txQueueLen,
  });
  const netback = new Netback({ frontDomid: g.domid, mem, dom0, pages: dom0Pool, hv: port, cpu: new Cpu('cpu0', 2.8e9, ledger), rxMode, ...(opts.features ? { features: opts.features } : {}), ...(opts.txMode ? { txMode: opts.txMode } : {}), ...(opts.onTxDone ? { onTxDone: opts.onTxDone } : {}) });
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

/**
 * A guest that drives its TX ring by hand instead of through netfront (to write what netfront
 * never would): its ring pages granted as grefs 100 and 101, and netback connected to them.
 */
export async function handRolledGuest(tb: Testbed) {
  const txGfn = tb.guestPool.take()!;
  const rxGfn = tb.guestPool.take()!;
  const page = (gfn: number): RingPage => ({ read: (o, l) => tb.guest.read(gfn, o, l), write: (o, d) => tb.guest.write(gfn, o, d) });
  initSharedRing(page(txGfn));
  initSharedRing(page(rxGfn));
  tb.grants.grantAccess(100, 0, txGfn, false);
  tb.grants.grantAccess(101, 0, rxGfn, false);
  await tb.netback.connect(100, 101, 0);
  return { tx: new FrontRing(page(txGfn), txRequestCodec, txResponseCodec), txPage: page(txGfn) };
}
