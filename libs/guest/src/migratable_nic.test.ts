// A migrating guest's device: I/O held while suspended, none of it lost, and sent in order
// on the connection the guest resumes with (two real netfronts, one per host).
import { describe, expect, it } from 'vitest';
import { CostTable, Cpu, Ledger } from '@vnetlab/cost';
import { GrantTableWriter, Hypervisor } from '@vnetlab/hypervisor';
import { BufferMachineMemory, GuestMemory, PagePool } from '@vnetlab/memory';
import { Netback } from '@vnetlab/netback';
import { Netfront } from '@vnetlab/netfront';
import { MigratableNic } from './migratable_nic.js';

/** A host with a guest's netfront connected to a real netback (which takes TX requests only when asked). */
function host(name: string) {
  const mem = new BufferMachineMemory(4096);
  const costs = new CostTable();
  const ledger = new Ledger(costs);
  const hv = new Hypervisor({ mem, costs });
  const dom0 = hv.createDomain('dom0', 256);
  const g = hv.createDomain(name, 256);
  const netfront = new Netfront({
    mem: new GuestMemory(mem, g.p2m), grants: new GrantTableWriter(mem, g.grantFrames), backendDomid: 0, rxMode: 'copy',
    pages: new PagePool(g.p2m.map((_, i) => i).slice(8)), cpu: new Cpu('cpu1', 2.8e9, ledger), domain: name,
  });
  const netback = new Netback({
    frontDomid: g.domid, mem, dom0: new GuestMemory(mem, dom0.p2m), pages: new PagePool(dom0.p2m.map((_, i) => i).slice(8)), cpu: new Cpu('cpu0', 2.8e9, ledger), rxMode: 'copy',
    hv: {
      grantCopy: async (ops) => hv.grantCopy(0, ops),
      grantMap: async (granter, gref, ro) => hv.grantMap(0, granter, gref, ro),
      grantTransfer: async (gfn, to, gref) => hv.grantTransfer(0, gfn, to, gref),
      populatePhysmap: async (gfn) => hv.populatePhysmap(0, gfn),
    },
  });
  return { netfront, netback };
}

/** A frame whose payload says which one it is. */
const frame = (i: number) => Buffer.concat([Buffer.alloc(14, 0xff), Buffer.from(`frame ${i}`.padEnd(46, '.'))]);

describe('MigratableNic', () => {
  it('holds what the kernel sends while suspended, with what waited for ring room, and sends all of it in order after resuming', async () => {
    const a = host('vm');
    const refs = a.netfront.setup();
    await a.netback.connect(refs.txRingRef, refs.rxRingRef, 0);
    const nic = new MigratableNic(a.netfront);
    const told: number[] = [];
    nic.setNotify((t) => told.push(t));
    // more frames than the TX ring has slots: the rest wait in netfront
    let i = 0;
    for (; i < 300; i++) nic.transmit(frame(i), 0);
    const onRing = a.netfront.txInFlight;
    expect(a.netfront.txQueued).toBe(300 - onRing);
    nic.suspend();
    expect(a.netfront.txQueued).toBe(0); // taken over: the old connection will not send them
    for (; i < 310; i++) expect(nic.transmit(frame(i), 10).queued).toBe(true);
    expect(nic.heldFrames).toBe(300 - onRing + 10);
    expect(nic.txQueued).toBeGreaterThan(0); // the stack keeps its data meanwhile
    nic.notify(20);
    expect(told).toEqual([]); // the old backend is going away: nobody to tell
    // what was on the old ring goes out there before the backend lets go
    const drained = await a.netback.onTxEvent(30);
    expect(drained.skbs).toHaveLength(onRing);

    const b = host('vm');
    const refsB = b.netfront.setup();
    await b.netback.connect(refsB.txRingRef, refsB.rxRingRef, 0);
    const r = nic.resume(b.netfront, 40);
    expect(r.dropped).toEqual([]);
    expect(r.sent).toBe(300 - onRing + 10);
    expect(nic.heldFrames).toBe(0);
    // the new backend takes them in the order the kernel sent them
    const got: string[] = [];
    for (let more = true; more; ) {
      const t = await b.netback.onTxEvent(50);
      got.push(...t.skbs.map((s) => s.bytes.subarray(14, 24).toString().replace(/\.+$/, '')));
      await b.netfront.onEvent(50);
      more = t.skbs.length > 0;
    }
    expect(got).toEqual(Array.from({ length: 310 - onRing }, (_, k) => `frame ${onRing + k}`));
    nic.notify(60);
    expect(told).toEqual([60]);
  });
});
