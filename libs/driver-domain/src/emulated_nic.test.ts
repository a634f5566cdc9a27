// The emulated NIC's device model refuses register writes no e1000 driver makes: values past
// 32 bits, a ring outside the guest, a tail beyond the ring. Found by the lab fuzzer: a hostile
// ioreq used to move the TX ring out of the guest's memory for good.
import { describe, expect, it } from 'vitest';
import { CostTable, Cpu, Ledger } from '@vnetlab/cost';
import { buildUdpFrame } from '@vnetlab/frames';
import { BufferMachineMemory, GuestMemory, PagePool } from '@vnetlab/memory';
import { DESC_EOP, DESC_SIZE, E1000, encodeDescriptor } from '@vnetlab/nic';
import { EmulatedNicError, EmulatedNicModel } from './emulated_nic.js';

const PAGE = 4096;

function setup() {
  const mem = new BufferMachineMemory(64);
  const guest = new GuestMemory(mem, Array.from({ length: 16 }, (_, i) => i));
  const dom0 = new GuestMemory(mem, Array.from({ length: 16 }, (_, i) => 16 + i));
  const cpu = new Cpu('cpu0', 2.8e9, new Ledger(new CostTable()));
  const model = new EmulatedNicModel({ guest, dom0, pages: new PagePool([0, 1, 2, 3]), cpu });
  // the guest's driver: an 8-descriptor TX ring at gfn 0, one frame in gfn 1 behind slot 0
  model.onIoreq(E1000.TDBAL, 0, true, 0);
  model.onIoreq(E1000.TDLEN, 8 * DESC_SIZE, true, 0);
  const frame = buildUdpFrame({ srcMac: '00:16:3e:00:00:01', dstMac: '00:16:3e:00:00:02', srcIp: '10.0.0.1', dstIp: '10.0.0.2', srcPort: 1, dstPort: 2, payload: Buffer.alloc(64) });
  guest.write(1, 0, frame);
  guest.write(0, 0, encodeDescriptor({ addr: PAGE, len: frame.length, flags: DESC_EOP, status: 0 }));
  return model;
}

const refused = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return e instanceof EmulatedNicError ? e.reason : `not an EmulatedNicError: ${String(e)}`;
  }
  return 'accepted';
};

describe('EmulatedNicModel register writes', () => {
  it('refuses a TX tail beyond the ring instead of taking it modulo the ring, and the ring still works', () => {
    const model = setup();
    expect(refused(() => model.onIoreq(E1000.TDT, 9, true, 10))).toBe('bad_register_value');
    expect(model.onIoreq(E1000.TDT, 1, true, 10).skbs).toHaveLength(1);
  });

  it('refuses a ring base outside the guest\'s memory and keeps the old ring', () => {
    const model = setup();
    expect(refused(() => model.onIoreq(E1000.TDBAL, 16 * PAGE, true, 0))).toBe('bad_register_value');
    expect(refused(() => model.onIoreq(E1000.TDBAL, 8, true, 0))).toBe('bad_register_value');
    expect(model.onIoreq(E1000.TDT, 1, true, 10).skbs).toHaveLength(1);
  });

  it('refuses values that do not fit a 32-bit register, and ring lengths that end outside the guest', () => {
    const model = setup();
    expect(refused(() => model.onIoreq(E1000.RDBAL, 2 ** 32 + PAGE, true, 0))).toBe('bad_register_value');
    expect(refused(() => model.onIoreq(E1000.TDLEN, -16, true, 0))).toBe('bad_register_value');
    expect(refused(() => model.onIoreq(E1000.TDLEN, 17 * PAGE, true, 0))).toBe('bad_register_value');
    expect(refused(() => model.onIoreq(E1000.TDLEN, 100, true, 0))).toBe('bad_register_value');
    expect(model.onIoreq(E1000.TDT, 1, true, 10).skbs).toHaveLength(1);
  });

  it('still accepts the guest driver\'s own writes, and reads are never refused', () => {
    const model = setup();
    expect(refused(() => model.onIoreq(E1000.RDBAL, 2 * PAGE, true, 0))).toBe('accepted');
    expect(refused(() => model.onIoreq(E1000.RDLEN, 8 * DESC_SIZE, true, 0))).toBe('accepted');
    expect(refused(() => model.onIoreq(E1000.RDT, 7, true, 0))).toBe('accepted');
    expect(refused(() => model.onIoreq(E1000.ICR, 2 ** 40, false, 0))).toBe('accepted');
  });
});
