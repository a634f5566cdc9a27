// The whole paravirtual path of one host in one process, with the real hypervisor logic:
// guest stack → netfront → shared rings in machine memory → netback → bridge → netback →
// netfront → guest stack. Event channels are delivered asynchronously, as across services.
import { describe, expect, it } from 'vitest';
import { Bridge } from '@vnetlab/bridge';
import { CostTable, Cpu, Ledger } from '@vnetlab/cost';
import { GuestKernel } from '@vnetlab/guest';
import { GrantTableWriter, Hypervisor } from '@vnetlab/hypervisor';
import { BufferMachineMemory, GuestMemory, PagePool } from '@vnetlab/memory';
import type { HypervisorPort, TxMode } from '@vnetlab/netback';
import { Netfront } from '@vnetlab/netfront';
import { NetStack } from '@vnetlab/netstack';
import { DriverDomain } from './driver_domain.js';

type Handler = (port: number, tNs: number) => void;

function buildHost(rxModes: Array<'copy' | 'flip'>) {
  const mem = new BufferMachineMemory(16384);
  const costs = new CostTable();
  const ledger = new Ledger(costs);
  const hv = new Hypervisor({ mem, costs });
  const dom0 = hv.createDomain('dom0', 2048);
  const handlers = new Map<number, Handler>();
  const send = (caller: number, port: number, tNs: number) => {
    const r = hv.evtchnSend(caller, port);
    if (r.target) {
      const h = handlers.get(r.target.domid);
      const target = r.target;
      setImmediate(() => h?.(target.port, tNs));
    }
  };
  const port0: HypervisorPort = {
    grantCopy: async (ops) => hv.grantCopy(dom0.domid, ops),
    grantMap: async (granter, gref, ro) => hv.grantMap(dom0.domid, granter, gref, ro),
    grantTransfer: async (gfn, to, gref) => hv.grantTransfer(dom0.domid, gfn, to, gref),
    populatePhysmap: async (gfn) => hv.populatePhysmap(dom0.domid, gfn),
    grantMapBatch: async (ops) => ops.map((o) => hv.grantMap(dom0.domid, o.granter, o.gref, o.readonly, o.deviceOnly)),
    grantUnmapBatch: async (handles) => handles.map((h) => hv.grantUnmap(dom0.domid, h)),
  } as HypervisorPort;
  const dom0Mem = new GuestMemory(mem, dom0.p2m);
  const dd = new DriverDomain({
    mem,
    dom0: dom0Mem,
    pages: new PagePool(dom0.p2m.map((_, i) => i).slice(16)),
    cpu: new Cpu('cpu0', 2.8e9, ledger),
    bridge: new Bridge(),
    ports: { hv: port0, notify: (port, t) => send(dom0.domid, port, t) },
  });
  handlers.set(dom0.domid, (port, t) => void dd.onEvent(port, t));

  const guests = rxModes.map((rxMode, i) => {
    const info = hv.createDomain(`vm${i + 1}`, 1024);
    const gm = new GuestMemory(mem, info.p2m);
    const cpu = new Cpu(`cpu${i + 1}`, 2.8e9, ledger);
    const mac = `02:00:00:00:01:0${i + 1}`;
    const ip = `10.0.0.${i + 1}`;
    const netfront = new Netfront({
      mem: gm,
      grants: new GrantTableWriter(mem, info.grantFrames),
      backendDomid: dom0.domid,
      rxMode,
      pages: new PagePool(info.p2m.map((_, j) => j).slice(16)),
      cpu,
      domain: info.name,
      hv: { acceptTransfer: async (gref, gfn) => hv.acceptTransfer(info.domid, gref, gfn) },
    });
    const stack = new NetStack({ mac, ip });
    stack.listenTcp(5001);
    stack.bindUdp(5001);
    const { port } = hv.evtchnAllocUnbound(info.domid, dom0.domid);
    const kernel = new GuestKernel({ domain: info.name, mac, netfront, stack, cpu, notify: (t) => send(info.domid, port, t), idleTimerMs: 1000 });
    handlers.set(info.domid, (_p, t) => void kernel.onEvent(t));
    return { info, gm, netfront, stack, kernel, port, ip };
  });
  return { hv, ledger, dd, guests, dom0, mem };
}

async function connect(h: ReturnType<typeof buildHost>, txModes: TxMode[] = []) {
  for (const [i, g] of h.guests.entries()) {
    const { txRingRef, rxRingRef } = g.netfront.setup();
    const bound = h.hv.evtchnBindInterdomain(h.dom0.domid, g.info.domid, g.port);
    await h.dd.addVif({ name: `vif${g.info.domid}.0`, frontDomid: g.info.domid, port: bound.port, rxMode: g.netfront.rxMode, txMode: txModes[i] ?? 'copy' }, txRingRef, rxRingRef, 0);
  }
}

describe('the PV path on one host (netfront ↔ netback ↔ bridge)', () => {
  it('a guest pings another guest and the modelled rtt is positive', async () => {
    const h = buildHost(['copy', 'copy']);
    await connect(h);
    const r = await h.guests[0].kernel.ping(h.guests[1].ip, 3);
    expect(r.received).toBe(3);
    for (const p of r.replies) expect(p.rttNs).toBeGreaterThan(0);
    // the path really used grant copies and the bridge
    const rows = h.ledger.snapshot();
    expect(rows.some((x) => x.domain === 'xen' && x.primitive === 'hypercall' && x.pcpu === 'cpu0')).toBe(true);
    expect(rows.some((x) => x.primitive === 'bridge_lookup' && x.domain === 'dom0')).toBe(true);
  });

  it('a UDP bulk transfer arrives whole at a page-flipping receiver and the counters balance', async () => {
    const h = buildHost(['copy', 'flip']);
    await connect(h);
    const bytes = 300_000;
    const res = await h.guests[0].kernel.udpBulk(h.guests[1].ip, 5001, bytes, 1472);
    expect(res.bytesSent).toBe(bytes);
    await new Promise((r) => setTimeout(r, 200));
    const rx = h.guests[1].stack.stats().flows.find((f) => f.role === 'receiver' && f.protocol === 'udp');
    const sent = h.guests[0].kernel.flows.snapshot().find((f) => f.flow === res.flow)!;
    const got = h.guests[1].kernel.flows.snapshot().find((f) => f.flow === res.flow)!;
    const drops = h.dd.flows.snapshot().find((f) => f.flow === res.flow);
    const dropped = Object.values(drops?.drops ?? {}).reduce((a, b) => a + b, 0);
    expect(sent.sentFrames).toBe(Math.ceil(bytes / 1472));
    expect(got.deliveredFrames + dropped).toBe(sent.sentFrames);
    expect(rx?.bytesDelivered).toBe(got.deliveredFrames === sent.sentFrames ? bytes : rx?.bytesDelivered);
    // flipping moved pages: frames the guest received now sit in frames it owns
    expect(h.guests[1].netfront.stats.rxPackets).toBeGreaterThan(0);
  });

  it('a TCP bulk transfer delivers every byte in order', async () => {
    const h = buildHost(['copy', 'copy']);
    await connect(h);
    const bytes = 500_000;
    const res = await h.guests[0].kernel.tcpBulk(h.guests[1].ip, 5001, bytes, 30_000);
    expect(res.endNs).toBeGreaterThan(res.startNs);
    const sink = h.guests[1].stack.stats().flows.find((f) => f.role === 'receiver' && f.protocol === 'tcp')!;
    expect(sink.bytesDelivered).toBe(bytes);
    expect(sink.corruptBytes).toBe(0);
    // nothing was lost on one host, so nothing may have been sent twice
    const snd = h.guests[0].stack.stats().flows.find((f) => f.role === 'sender')!;
    expect(snd.retransmissions).toBe(0);
  });

  for (const mode of ['map', 'noremap'] as const) {
    it(`tx_mode ${mode}: a TCP bulk to a guest on the same host arrives intact, and every mapped TX buffer is answered and unpinned`, async () => {
      const h = buildHost(['copy', 'copy']);
      await connect(h, [mode, 'copy']);
      const bytes = 200_000;
      await h.guests[0].kernel.tcpBulk(h.guests[1].ip, 5001, bytes, 30_000);
      const sink = h.guests[1].stack.stats().flows.find((f) => f.role === 'receiver' && f.protocol === 'tcp')!;
      expect(sink.bytesDelivered).toBe(bytes);
      expect(sink.corruptBytes).toBe(0);
      // delivered to a local vif, each frame was copied out of the guest's pages and released
      // at once: nothing stays pinned, nothing waits for an answer
      await new Promise((r) => setTimeout(r, 50));
      const vif = h.dd.vifStats().find((v) => v.domid === h.guests[0].info.domid)!;
      expect(vif.txPackets).toBeGreaterThan(bytes / 1460);
      expect(h.guests[0].netfront.txInFlight).toBe(0);
      // the only pins left on the guest's frames are its two ring pages, mapped while connected
      expect(h.guests[0].info.p2m.reduce((n, mfn) => n + h.hv.frameTable.ioRefs(mfn), 0)).toBe(2);
    });
  }
});
