// The operator's requests to a guest kernel with values no caller should send are refused at
// once, before anything is sent. Found by the lab fuzzer: a ping count of 2^32 - 1 or a bulk of
// 2^52 bytes ran for hours, and a modelled time of 1e300 moved the guest's clock — and, through
// its frames, the whole lab's — to where one more nanosecond changes nothing.
import { describe, expect, it } from 'vitest';
import { CostTable, Cpu, Ledger } from '@vnetlab/cost';
import type { Netfront } from '@vnetlab/netfront';
import { NetStack, NetStackError } from '@vnetlab/netstack';
import { GuestKernel, MAX_BULK_BYTES } from './guest_kernel.js';

function kernel() {
  const stack = new NetStack({ mac: '00:16:3e:00:00:01', ip: '10.0.0.1' });
  // no request below reaches the netfront: each is refused first
  const k = new GuestKernel({ domain: 'vm1', mac: '00:16:3e:00:00:01', netfront: {} as Netfront, stack, cpu: new Cpu('cpu1', 2.8e9, new Ledger(new CostTable())), notify: () => undefined });
  return k;
}

async function reason(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'accepted';
  } catch (e) {
    return e instanceof NetStackError ? e.reason : `not a NetStackError: ${String(e)}`;
  }
}

describe('a guest kernel refuses out-of-range operator requests', () => {
  it('a modelled time that is NaN, infinite, negative or past 2^53 ns, and leaves the clock alone', async () => {
    const k = kernel();
    await k.advanceTo(5_000);
    for (const t of [Number.NaN, Infinity, -1, 2 ** 53 + 2, 1e300]) expect(await reason(k.advanceTo(t))).toBe('bad_argument');
    expect(k.now).toBe(5_000);
    expect(await reason(k.advanceTo(2 ** 52))).toBe('accepted');
    expect(k.now).toBe(2 ** 52);
  });

  it('a ping count outside 1..65535 (ICMP sequence numbers are 16 bits), before sending anything', async () => {
    const k = kernel();
    for (const n of [0, 65_536, 2 ** 32 - 1, 1.5]) expect(await reason(k.ping('10.0.0.2', n))).toBe('bad_argument');
    expect(k.stats().framesOut).toBe(0);
  });

  it('a bulk of more than MAX_BULK_BYTES, or of a byte count that is not a safe integer', async () => {
    const k = kernel();
    for (const b of [MAX_BULK_BYTES + 1, 2 ** 52, Number.NaN, -1]) {
      expect(await reason(k.udpBulk('10.0.0.2', 5001, b, 1000))).toBe('bad_argument');
      expect(await reason(k.tcpBulk('10.0.0.2', 5001, b))).toBe('bad_argument');
    }
    expect(k.stats().framesOut).toBe(0);
  });
});
