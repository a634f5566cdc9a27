import { describe, expect, it } from 'vitest';
import { CostTable, Cpu, Ledger } from '@vnetlab/cost';
import { GrantTableWriter, Hypervisor, GNTST_okay } from '@vnetlab/hypervisor';
import { BufferMachineMemory, GuestMemory, PAGE_SIZE, PagePool } from '@vnetlab/memory';
import {
  BackRing, NETIF_RSP_NULL, NETIF_RSP_OKAY, NETTXF_csum_blank, NETTXF_data_validated, NETTXF_extra_info, NETTXF_more_data,
  XEN_NETIF_EXTRA_TYPE_GSO, XEN_NETIF_GSO_TYPE_TCPV4, txRequestAsExtraInfo, txRequestCodec, txResponseCodec,
} from '@vnetlab/ring';
import { GSO_MAX_FRAME, Netfront } from './index.js';

const frame = (len: number) => Buffer.from(Array.from({ length: len }, (_, i) => (i * 3 + 1) & 0xff));

function host(guestPages = 64) {
  const mem = new BufferMachineMemory(guestPages + 96);
  const costs = new CostTable();
  const ledger = new Ledger(costs);
  const hv = new Hypervisor({ mem, costs });
  hv.createDomain('dom0', 64);
  const g = hv.createDomain('guest1', guestPages);
  const guest = new GuestMemory(mem, g.p2m);
  const pool = new PagePool(Array.from({ length: guestPages - 1 }, (_, i) => i + 1));
  const nf = new Netfront({ mem: guest, grants: new GrantTableWriter(mem, g.grantFrames), backendDomid: 0, rxMode: 'copy', pages: pool, cpu: new Cpu('cpu1', 2.8e9, ledger), domain: 'guest1', rxBuffers: 4 });
  const refs = nf.setup();
  const m = hv.grantMap(0, g.domid, refs.txRingRef, false);
  expect(m.status).toBe(GNTST_okay);
  const tx = new BackRing({ read: (o, l) => mem.read(m.mfn, o, l), write: (o, d) => mem.write(m.mfn, o, d) }, txRequestCodec, txResponseCodec);
  return { nf, tx, pool, guest, ledger };
}

describe('netfront multi-slot transmit (a GSO packet)', () => {
  it('puts the head with the whole size, csum_blank and extra_info, then the GSO extra, then one slot per further page', () => {
    const h = host();
    const f = frame(3 * PAGE_SIZE + 100);
    h.nf.transmit(f, 0, { csumBlank: true, gsoSize: 1460 });
    const { requests } = h.tx.takeRequests();
    expect(requests).toHaveLength(1 + 1 + 3);
    const [head, extra, ...rest] = requests;
    expect(head!.size).toBe(f.length);
    expect(head!.flags).toBe(NETTXF_csum_blank | NETTXF_data_validated | NETTXF_more_data | NETTXF_extra_info);
    expect(txRequestAsExtraInfo(extra!)).toEqual({ type: XEN_NETIF_EXTRA_TYPE_GSO, flags: 0, gso: { size: 1460, type: XEN_NETIF_GSO_TYPE_TCPV4, features: 0 } });
    expect(rest.map((r) => r.size)).toEqual([PAGE_SIZE, PAGE_SIZE, 100]);
    expect(rest.map((r) => r.flags)).toEqual([NETTXF_more_data, NETTXF_more_data, 0]);
    expect(new Set([head, ...rest].map((r) => r!.id)).size).toBe(4);
    // the backend answers every slot, the extra one with NETIF_RSP_NULL: netfront frees all and counts one packet
    for (const r of [head!, extra!, ...rest]) h.tx.putResponse({ id: r === extra ? 0 : r.id, status: r === extra ? NETIF_RSP_NULL : NETIF_RSP_OKAY });
    h.tx.pushResponses();
    return h.nf.onEvent(0).then(() => {
      expect(h.nf.txInFlight).toBe(0);
      expect(h.nf.stats).toMatchObject({ txPackets: 1, txBytes: f.length, txErrors: 0, errors: {} });
    });
  });

  it('charges netfront_tx once per packet and a ring op per slot', () => {
    const h = host();
    h.nf.transmit(frame(2 * PAGE_SIZE), 0, { gsoSize: 1460 });
    const ops = (p: string) => h.ledger.snapshot().filter((r) => r.primitive === p).reduce((n, r) => n + r.ops, 0);
    expect(ops('netfront_tx')).toBe(1);
    expect(ops('ring_op')).toBe(3);
  });

  it('waits when the packet needs more pages than are free, and refuses a frame beyond one request chain', () => {
    const h = host(8); // 7 pages, 2 for the rings, 4 for RX buffers: 1 left
    const r = h.nf.transmit(frame(2 * PAGE_SIZE), 0, { gsoSize: 1460 });
    expect(r.queued).toBe(true);
    expect(h.nf.transmit(frame(GSO_MAX_FRAME + 1), 0, { gsoSize: 1460 }).drop).toBe('frame_too_big');
    expect(h.nf.transmit(frame(PAGE_SIZE + 1), 0).drop).toBe('frame_too_big'); // no GSO: one page per request
  });
});
