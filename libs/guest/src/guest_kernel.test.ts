// A guest kernel over a real netfront, a real netback and the real hypervisor logic; the
// "network" behind netback is a mirror that sends every frame straight back to the guest.
import { describe, expect, it } from 'vitest';
import { CostTable, Cpu, Ledger } from '@vnetlab/cost';
import { GrantTableWriter, Hypervisor } from '@vnetlab/hypervisor';
import { BufferMachineMemory, GuestMemory, PagePool } from '@vnetlab/memory';
import { Netback } from '@vnetlab/netback';
import { Netfront } from '@vnetlab/netfront';
import { NetStack } from '@vnetlab/netstack';
import { GuestKernel } from './guest_kernel.js';

async function mirrorHost() {
  const mem = new BufferMachineMemory(8192);
  const costs = new CostTable();
  const ledger = new Ledger(costs);
  const hv = new Hypervisor({ mem, costs });
  const dom0 = hv.createDomain('dom0', 512);
  const g = hv.createDomain('vm1', 512);
  const pool0 = new PagePool(dom0.p2m.map((_, i) => i).slice(8));
  const netback = new Netback({
    frontDomid: g.domid, mem, dom0: new GuestMemory(mem, dom0.p2m), pages: pool0, cpu: new Cpu('cpu0', 2.8e9, ledger), rxMode: 'copy',
    hv: {
      grantCopy: async (ops) => hv.grantCopy(0, ops),
      grantMap: async (granter, gref, ro) => hv.grantMap(0, granter, gref, ro),
      grantTransfer: async (gfn, to, gref) => hv.grantTransfer(0, gfn, to, gref),
      populatePhysmap: async (gfn) => hv.populatePhysmap(0, gfn),
    },
  });
  const mac = '00:16:3e:00:00:01';
  const netfront = new Netfront({
    mem: new GuestMemory(mem, g.p2m), grants: new GrantTableWriter(mem, g.grantFrames), backendDomid: 0, rxMode: 'copy',
    pages: new PagePool(g.p2m.map((_, i) => i).slice(8)), cpu: new Cpu('cpu1', 2.8e9, ledger), domain: 'vm1',
  });
  const stack = new NetStack({ mac, ip: '10.0.0.1' });
  let kernel: GuestKernel | undefined;
  // netback runs when the guest notifies: everything it takes from the guest goes back to it
  const backend = async (t: number) => {
    const r = await netback.onTxEvent(t);
    for (const s of r.skbs) s.page && pool0.give(s.page.gfn);
    const d = await netback.deliver(r.skbs.map((s) => ({ bytes: s.bytes, tNs: s.tNs })), r.tNs);
    for (const gfn of d.freedGfns) pool0.give(gfn);
    if (r.notify || d.notify) setImmediate(() => void kernel!.onEvent(d.tNs));
  };
  kernel = new GuestKernel({ domain: 'vm1', mac, netfront, stack, cpu: new Cpu('cpu1', 2.8e9, ledger), notify: (t) => setImmediate(() => void backend(t)), idleTimerMs: 10 });
  const { txRingRef, rxRingRef } = netfront.setup();
  await netback.connect(txRingRef, rxRingRef, 0);
  return { kernel, stack, mac };
}

describe('the guest kernel', () => {
  it('counts a frame that comes back addressed to another MAC as not for us, not as delivered', async () => {
    const { kernel, stack, mac } = await mirrorHost();
    // the guest learns a peer's MAC from the peer's ARP request, then pings it: the echo
    // request goes out, the mirror sends it back, and it is not addressed to us
    const peer = new NetStack({ mac: '00:16:3e:00:00:99', ip: '10.0.0.9' });
    stack.receive(peer.ping('10.0.0.1', 1, 0).frames[0], 0);
    await kernel.ping('10.0.0.9', 1, 8, 200);
    const flows = kernel.flows.snapshot();
    const icmp = flows.find((f) => f.flow === 'icmp 10.0.0.1>10.0.0.9')!;
    expect(icmp.sentFrames).toBe(1);
    expect(icmp.deliveredFrames).toBe(0);
    expect(icmp.drops).toEqual({ not_for_us: 1 });
  });

  it('a ping nobody answers times out and says so', async () => {
    const { kernel } = await mirrorHost();
    const r = await kernel.ping('10.0.0.77', 2, 8, 100);
    expect(r.received).toBe(0);
    expect(r.replies.map((x) => x.ok)).toEqual([false, false]);
  });

  it('the operator moves the guest clock forward, never back', async () => {
    const { kernel } = await mirrorHost();
    await kernel.advanceTo(5_000);
    await kernel.advanceTo(1_000);
    expect(kernel.now).toBe(5_000);
  });
});
