import { describe, it, expect } from 'vitest';
import { hypercall, control, eth } from './index.js';

describe('generated wire types', () => {
  it('a HypercallRequest with a grant_copy batch survives encode and decode', () => {
    const req: hypercall.HypercallRequest = {
      seq: 42,
      caller: 3,
      tNs: 1_234_567_890_123,
      pcpu: 'cpu1',
      op: {
        $case: 'grantCopy',
        value: {
          ops: [
            { source: { ref: { $case: 'gref', value: 17 }, domid: 3, offset: 64 }, dest: { ref: { $case: 'gfn', value: 9 }, domid: 0, offset: 0 }, len: 1434 },
            { source: { ref: { $case: 'gfn', value: 2 }, domid: 0, offset: 100 }, dest: { ref: { $case: 'gref', value: 300 }, domid: 5, offset: 4000 }, len: 96 },
          ],
        },
      },
    };
    const bytes = hypercall.HypercallRequest.encode(req).finish();
    const back = hypercall.HypercallRequest.decode(bytes);
    expect(back).toEqual(req);
    expect(back.op?.$case).toBe('grantCopy');
  });

  it('a HypercallResponse keeps negative per-op statuses', () => {
    const rsp = hypercall.HypercallResponse.fromPartial({ seq: 7, status: -8, statuses: [0, -4, -8], cycles: 2100 });
    const back = hypercall.HypercallResponse.decode(hypercall.HypercallResponse.encode(rsp).finish());
    expect(back.statuses).toEqual([0, -4, -8]);
    expect(back.status).toBe(-8);
  });

  it('frame bytes and flow drop maps round-trip', () => {
    const burst = eth.FrameBurst.fromPartial({ link: 'l1', from: 'h1/eth0', frames: [{ data: Buffer.from([1, 2, 3, 255]), tNs: 5 }] });
    const b2 = eth.FrameBurst.decode(eth.FrameBurst.encode(burst).finish());
    expect(Buffer.from(b2.frames[0]!.data)).toEqual(Buffer.from([1, 2, 3, 255]));
    const flow = control.FlowCounters.fromPartial({ flow: 'f', sentFrames: 10, deliveredFrames: 7, drops: { no_buffer: 2, link_down: 1 } });
    expect(control.FlowCounters.decode(control.FlowCounters.encode(flow).finish()).drops).toEqual({ no_buffer: 2, link_down: 1 });
  });

  it('a truncated message fails to decode with an error instead of yielding garbage', () => {
    const bytes = hypercall.HypercallRequest.encode({ seq: 1, caller: 1, tNs: 1, pcpu: 'cpu0', op: { $case: 'evtchnSend', value: { port: 3 } } }).finish();
    expect(() => hypercall.HypercallRequest.decode(bytes.subarray(0, bytes.length - 3))).toThrow();
  });
});
