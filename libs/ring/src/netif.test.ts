import { describe, it, expect } from 'vitest';
import {
  BackRing, FrontRing, bufferRingPage, initSharedRing, NET_RX_RING_SIZE, NET_TX_RING_SIZE,
  NETIF_RSP_ERROR, rxRequestCodec, rxResponseCodec, txRequestCodec, txResponseCodec,
} from './index.js';

describe('netif.h layouts', () => {
  it('TX and RX rings hold 256 slots in a 4 KiB page', () => {
    expect(NET_TX_RING_SIZE).toBe(256);
    expect(NET_RX_RING_SIZE).toBe(256);
  });

  it('netif_tx_request is gref u32, offset, flags, id, size u16 little endian', () => {
    const b = Buffer.alloc(12);
    txRequestCodec.encode({ gref: 0x01020304, offset: 0x0506, flags: 0x0708, id: 0x090a, size: 0x0b0c }, b, 0);
    expect(b.toString('hex')).toBe('04030201' + '0605' + '0807' + '0a09' + '0c0b');
    expect(txRequestCodec.decode(b, 0)).toEqual({ gref: 0x01020304, offset: 0x0506, flags: 0x0708, id: 0x090a, size: 0x0b0c });
  });

  it('netif_tx_response carries a signed status', () => {
    const b = Buffer.alloc(4);
    txResponseCodec.encode({ id: 3, status: NETIF_RSP_ERROR }, b, 0);
    expect(b.toString('hex')).toBe('0300ffff');
    expect(txResponseCodec.decode(b, 0)).toEqual({ id: 3, status: -1 });
  });

  it('netif_rx_request has the gref after a 2-byte pad', () => {
    const b = Buffer.alloc(8, 0xee);
    rxRequestCodec.encode({ id: 0x0102, gref: 0x0a0b0c0d }, b, 0);
    expect(b.toString('hex')).toBe('0201' + '0000' + '0d0c0b0a');
    expect(rxRequestCodec.decode(b, 0)).toEqual({ id: 0x0102, gref: 0x0a0b0c0d });
  });

  it('netif_rx_response: id, offset, flags, status (size)', () => {
    const b = Buffer.alloc(8);
    rxResponseCodec.encode({ id: 1, offset: 2, flags: 3, status: 1514 }, b, 0);
    expect(rxResponseCodec.decode(b, 0)).toEqual({ id: 1, offset: 2, flags: 3, status: 1514 });
  });

  it('refuses out-of-range fields with a clear error', () => {
    const b = Buffer.alloc(12);
    expect(() => txRequestCodec.encode({ gref: 1, offset: 70000, flags: 0, id: 0, size: 0 }, b, 0)).toThrow(/offset 70000/);
    expect(() => txResponseCodec.encode({ id: 1, status: 40000 }, b, 0)).toThrow(/status/);
    expect(() => rxRequestCodec.encode({ id: 1.5, gref: 0 }, b, 0)).toThrow(/id/);
  });

  it('a TX ring carries requests and responses through the shared page', () => {
    const page = bufferRingPage();
    initSharedRing(page);
    const front = new FrontRing(page, txRequestCodec, txResponseCodec);
    const back = new BackRing(page, txRequestCodec, txResponseCodec);
    front.putRequest({ gref: 9, offset: 0, flags: 0, id: 4, size: 60 });
    front.pushRequests();
    const [req] = back.takeRequests().requests;
    expect(req).toEqual({ gref: 9, offset: 0, flags: 0, id: 4, size: 60 });
    back.putResponse({ id: req!.id, status: 0 });
    back.pushResponses();
    expect(front.takeResponses()).toEqual([{ id: 4, status: 0 }]);
  });
});

describe('netif extra info (the GSO slot)', () => {
  it('round-trips through the TX request slot it occupies', async () => {
    const { extraInfoAsTxRequest, txRequestAsExtraInfo, XEN_NETIF_EXTRA_TYPE_GSO, XEN_NETIF_GSO_TYPE_TCPV4, XEN_NETIF_EXTRA_FLAG_MORE } = await import('./netif.js');
    const e = { type: XEN_NETIF_EXTRA_TYPE_GSO, flags: XEN_NETIF_EXTRA_FLAG_MORE, gso: { size: 1460, type: XEN_NETIF_GSO_TYPE_TCPV4, features: 0 } };
    const req = extraInfoAsTxRequest(e);
    const b = Buffer.alloc(12);
    txRequestCodec.encode(req, b, 0);
    expect([b[0], b[1], b.readUInt16LE(2), b[4]]).toEqual([1, 1, 1460, 1]);
    expect(txRequestAsExtraInfo(txRequestCodec.decode(b, 0))).toEqual(e);
  });

  it('refuses a field that does not fit', async () => {
    const { extraInfoAsTxRequest } = await import('./netif.js');
    expect(() => extraInfoAsTxRequest({ type: 256, flags: 0, gso: { size: 1, type: 1, features: 0 } })).toThrow(/u8/);
    expect(() => extraInfoAsTxRequest({ type: 1, flags: 0, gso: { size: 70000, type: 1, features: 0 } })).toThrow(/u16/);
  });
});
