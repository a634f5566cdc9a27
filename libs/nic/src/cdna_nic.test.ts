// CDNA end to end: the hypervisor writes validated descriptors into rings it owns, the NIC
// reads them and moves real bytes, the hypervisor completes them from the NIC's writeback.
import { CostTable } from '@vnetlab/cost';
import { ETHERTYPE_IPV4, encodeEthernet } from '@vnetlab/frames';
import { Hypervisor } from '@vnetlab/hypervisor';
import { BufferMachineMemory, GuestMemory } from '@vnetlab/memory';
import { describe, expect, it } from 'vitest';
import { Nic, machineMemoryDma } from './index.js';

const MAC = '02:00:00:00:00:0a';

function lab(protection = true) {
  const mem = new BufferMachineMemory(96);
  const hv = new Hypervisor({ mem, costs: new CostTable(), protection });
  hv.createDomain('driver', 4);
  const guest = hv.createDomain('guest', 8);
  const victim = hv.createDomain('victim', 8);
  const qs = hv.cdnaAttach(guest.domid, { qs: 0, size: 8 });
  const nic = new Nic({ name: 'nic0', lineRateBps: 1e9, queueSets: 1, dma: machineMemoryDma(mem) });
  nic.configureQueueSet(0, { txRingAddr: qs.txRingAddr, rxRingAddr: qs.rxRingAddr, size: qs.size, macs: [MAC] });
  return { mem, hv, guest, victim, nic, gm: new GuestMemory(mem, guest.p2m), vm: new GuestMemory(mem, victim.p2m) };
}

function frame(fill: number, payload = 200): Buffer {
  return encodeEthernet({ dst: MAC, src: '02:00:00:00:00:99', ethertype: ETHERTYPE_IPV4, payload: Buffer.alloc(payload, fill) });
}

describe('CDNA with a real NIC', () => {
  it('transmits a frame from validated guest buffers and completes them from the NIC’s writeback', () => {
    const { hv, guest, nic, gm } = lab();
    const f = frame(0x11);
    gm.write(2, 0, f.subarray(0, 100));
    gm.write(5, 300, f.subarray(100));
    const e = hv.cdnaEnqueue(guest.domid, 0, 'tx', [{ gfn: 2, offset: 0, len: 100, more: true }, { gfn: 5, offset: 300, len: f.length - 100 }]);
    expect(e.accepted).toBe(2);
    const tx = nic.doorbellTx(0, e.tail, 1_000);
    expect(tx.wire.map((w) => w.bytes)).toEqual([f]);
    const c = hv.cdnaComplete(guest.domid, 0, 'tx', 2, tx.wire[0]!.tNs);
    expect(c.status).toBe(0);
    expect(c.buffers.map((b) => [b.gfn, b.ok])).toEqual([[2, true], [5, true]]);
    expect(hv.frameTable.ioRefs(guest.p2m[2]!) + hv.frameTable.ioRefs(guest.p2m[5]!)).toBe(0);
  });

  it('receives into a validated guest buffer; completion reports the frame length', () => {
    const { hv, guest, nic, gm } = lab();
    const e = hv.cdnaEnqueue(guest.domid, 0, 'rx', [{ gfn: 3, offset: 0, len: 2048 }]);
    nic.doorbellRx(0, e.tail, 0);
    const f = frame(0x22);
    expect(nic.receive(f, 500).delivered).toEqual([0]);
    const c = hv.cdnaComplete(guest.domid, 0, 'rx', 1, 500);
    expect(c.buffers[0]).toMatchObject({ gfn: 3, doneLen: f.length, ok: true });
    expect(gm.read(3, 0, f.length)).toEqual(f);
  });

  it('a guest that enqueues the victim’s page and rings past its tail gets nothing into the victim', () => {
    const { mem, hv, guest, victim, nic, vm } = lab();
    vm.write(1, 0, Buffer.from('victim data'));
    const before = mem.hashFrame(victim.p2m[1]!);
    const e = hv.cdnaEnqueue(guest.domid, 0, 'rx', [{ mfn: victim.p2m[1]!, offset: 0, len: 2048 }]);
    expect(e).toMatchObject({ accepted: 0, refused: 1, tail: 0 });
    // The doorbell is the guest's own MMIO write: it can lie about the tail.
    nic.doorbellRx(0, e.tail + 1, 0);
    nic.receive(frame(0x66), 100);
    expect(mem.hashFrame(victim.p2m[1]!)).toBe(before);
  });

  it('with protection off the same attack writes the frame into the victim’s page', () => {
    const { mem, hv, guest, victim, nic } = lab(false);
    const e = hv.cdnaEnqueue(guest.domid, 0, 'rx', [{ mfn: victim.p2m[1]!, offset: 0, len: 2048 }]);
    nic.doorbellRx(0, e.tail, 0);
    const f = frame(0x66);
    nic.receive(f, 100);
    expect(mem.read(victim.p2m[1]!, 0, f.length)).toEqual(f);
  });
});
