// The NIC takes modelled times in 0..2^53 ns only. Found by the lab fuzzer: a frame from the
// wire at 1e300 ns was taken, and the NIC's completions and interrupts then carried a time at
// which one more nanosecond changes nothing.
import { describe, expect, it } from 'vitest';
import { BufferMachineMemory } from '@vnetlab/memory';
import { Nic, machineMemoryDma, NicError } from './index.js';

describe('NIC modelled times', () => {
  it('a frame or doorbell at NaN, an infinity, a negative time or past 2^53 ns is refused with bad_time', () => {
    const nic = new Nic({ name: 'eth0', lineRateBps: 1e9, queueSets: 1, dma: machineMemoryDma(new BufferMachineMemory(16)) });
    const frame = Buffer.alloc(60, 0xff);
    for (const t of [Number.NaN, Infinity, -1, 2 ** 53 + 2, 1e300]) {
      let reason = 'taken';
      try {
        nic.receive(frame, t);
      } catch (e) {
        reason = e instanceof NicError ? e.reason : String(e);
      }
      expect(reason).toBe('bad_time');
    }
    // a time in range is taken (dropped here: no queue set is configured)
    expect(nic.receive(frame, 1e15).drops.map((d) => d.reason)).toEqual(['no_queue']);
  });
});
