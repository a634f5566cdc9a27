// A kernel's tap (captures, traces) and a frame sent as built (a trace's probe), over a
// device stub that echoes every frame back.
import { describe, expect, it } from 'vitest';
import { CostTable, Cpu, Ledger } from '@vnetlab/cost';
import { buildIcmpEchoFrame } from '@vnetlab/frames';
import { NetStack } from '@vnetlab/netstack';
import { GuestKernel, type GuestNic } from './guest_kernel.js';

function echoKernel() {
  const back: Array<{ bytes: Buffer; tNs: number }> = [];
  let kernel!: GuestKernel;
  const nic: GuestNic = {
    transmit: (frame, tNs) => {
      back.push({ bytes: frame, tNs: tNs + 1000 });
      return { notify: true, tNs: tNs + 100 };
    },
    onEvent: async (tNs) => ({ frames: back.splice(0), notify: false, tNs }),
    txQueued: 0,
  };
  const mac = '00:16:3e:00:00:01';
  kernel = new GuestKernel({ domain: 'vm1', mac, netfront: nic, stack: new NetStack({ mac, ip: '10.0.0.1' }), cpu: new Cpu('cpu1', 2.8e9, new Ledger(new CostTable())), notify: (t) => setImmediate(() => void kernel.onEvent(t)), idleTimerMs: 10 });
  return { kernel, mac };
}

describe('the guest kernel tap', () => {
  it('sees a frame sent as built going out and, echoed, coming back, in modelled-time order', async () => {
    const { kernel, mac } = echoKernel();
    const seen: Array<{ dir: string; len: number; t: number; start: number }> = [];
    kernel.setTap((dir, frame, t, start) => seen.push({ dir, len: frame.length, t, start }));
    const probe = buildIcmpEchoFrame({ srcMac: mac, dstMac: mac, srcIp: '10.0.0.2', dstIp: '10.0.0.1', id: 7, seq: 1, data: Buffer.alloc(16), ipId: 999 });
    const sent = await kernel.sendFrame(probe);
    await new Promise((r) => setTimeout(r, 20));
    // the probe out, the probe back (then whatever the stack answers)
    expect(seen.slice(0, 2).map((s) => [s.dir, s.len])).toEqual([['tx', probe.length], ['rx', probe.length]]);
    expect(sent.tNs).toBeGreaterThan(sent.startNs);
    for (const s of seen) expect(s.t).toBeGreaterThanOrEqual(s.start);
    kernel.setTap(undefined);
    const n = seen.length;
    await kernel.sendFrame(probe);
    await new Promise((r) => setTimeout(r, 20));
    expect(seen).toHaveLength(n);
  });
});
