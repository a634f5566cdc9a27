import { RingError } from './ring_page.js';
import { ringSize, type EntryCodec } from './shared_ring.js';

// Layouts from Xen's io/netif.h (x86, little endian, naturally aligned).

/** netif_tx_request: gref u32 @0, offset u16 @4, flags u16 @6, id u16 @8, size u16 @10. */
export interface NetifTxRequest { gref: number; offset: number; flags: number; id: number; size: number }
/** netif_tx_response: id u16 @0, status i16 @2. */
export interface NetifTxResponse { id: number; status: number }
/** netif_rx_request: id u16 @0, pad u16 @2, gref u32 @4. */
export interface NetifRxRequest { id: number; gref: number }
/** netif_rx_response: id u16 @0, offset u16 @2, flags u16 @4, status i16 @6 (size, or < 0 error). */
export interface NetifRxResponse { id: number; offset: number; flags: number; status: number }

export const NETTXF_csum_blank = 1;      // protocol checksum field is blank in the packet
export const NETTXF_data_validated = 2;  // packet data has been validated against the checksum
export const NETTXF_more_data = 4;       // packet continues in the next request
export const NETTXF_extra_info = 8;      // an extra-info slot follows this request
export const NETTXF_KNOWN = NETTXF_csum_blank | NETTXF_data_validated | NETTXF_more_data | NETTXF_extra_info;

export const NETRXF_data_validated = 1;  // packet data has been validated against the checksum
export const NETRXF_csum_blank = 2;      // protocol checksum field is blank in the packet
export const NETRXF_more_data = 4;       // packet continues in the next response
export const NETRXF_extra_info = 8;      // an extra-info slot follows this response

export const NETIF_RSP_DROPPED = -2;
export const NETIF_RSP_ERROR = -1;
export const NETIF_RSP_OKAY = 0;
export const NETIF_RSP_NULL = 1;         // no response: used for auxiliary requests

function field(name: string, v: number, bits: 16 | 32, signed = false): number {
  const lo = signed ? -(2 ** (bits - 1)) : 0;
  const hi = signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
  if (!Number.isInteger(v) || v < lo || v > hi) {
    throw new RingError('bad_entry', `${name} ${v} does not fit ${signed ? 'i' : 'u'}${bits}`);
  }
  return v;
}

export const txRequestCodec: EntryCodec<NetifTxRequest> = {
  size: 12,
  encode(v, out, off) {
    out.writeUInt32LE(field('gref', v.gref, 32), off);
    out.writeUInt16LE(field('offset', v.offset, 16), off + 4);
    out.writeUInt16LE(field('flags', v.flags, 16), off + 6);
    out.writeUInt16LE(field('id', v.id, 16), off + 8);
    out.writeUInt16LE(field('size', v.size, 16), off + 10);
  },
  decode(b, off) {
    return { gref: b.readUInt32LE(off), offset: b.readUInt16LE(off + 4), flags: b.readUInt16LE(off + 6), id: b.readUInt16LE(off + 8), size: b.readUInt16LE(off + 10) };
  },
};

export const txResponseCodec: EntryCodec<NetifTxResponse> = {
  size: 4,
  encode(v, out, off) {
    out.writeUInt16LE(field('id', v.id, 16), off);
    out.writeInt16LE(field('status', v.status, 16, true), off + 2);
  },
  decode(b, off) {
    return { id: b.readUInt16LE(off), status: b.readInt16LE(off + 2) };
  },
};

export const rxRequestCodec: EntryCodec<NetifRxRequest> = {
  size: 8,
  encode(v, out, off) {
    out.writeUInt16LE(field('id', v.id, 16), off);
    out.writeUInt16LE(0, off + 2);
    out.writeUInt32LE(field('gref', v.gref, 32), off + 4);
  },
  decode(b, off) {
    return { id: b.readUInt16LE(off), gref: b.readUInt32LE(off + 4) };
  },
};

export const rxResponseCodec: EntryCodec<NetifRxResponse> = {
  size: 8,
  encode(v, out, off) {
    out.writeUInt16LE(field('id', v.id, 16), off);
    out.writeUInt16LE(field('offset', v.offset, 16), off + 2);
    out.writeUInt16LE(field('flags', v.flags, 16), off + 4);
    out.writeInt16LE(field('status', v.status, 16, true), off + 6);
  },
  decode(b, off) {
    return { id: b.readUInt16LE(off), offset: b.readUInt16LE(off + 2), flags: b.readUInt16LE(off + 4), status: b.readInt16LE(off + 6) };
  },
};

/** NET_TX_RING_SIZE / NET_RX_RING_SIZE for a 4 KiB page (256 each). */
export const NET_TX_RING_SIZE = ringSize(Math.max(txRequestCodec.size, txResponseCodec.size));
export const NET_RX_RING_SIZE = ringSize(Math.max(rxRequestCodec.size, rxResponseCodec.size));

// ---- netif_extra_info: the slot that follows a TX request flagged NETTXF_extra_info ------
// It takes a request slot of the TX ring (a union in netif.h), laid out as
// type u8 @0, flags u8 @1, then for XEN_NETIF_EXTRA_TYPE_GSO: size u16 @2, type u8 @4,
// pad u8 @5, features u16 @6.

export const XEN_NETIF_EXTRA_TYPE_NONE = 0;
export const XEN_NETIF_EXTRA_TYPE_GSO = 1;
export const XEN_NETIF_EXTRA_TYPE_MCAST_ADD = 2;
export const XEN_NETIF_EXTRA_TYPE_MCAST_DEL = 3;
export const XEN_NETIF_EXTRA_TYPE_HASH = 4;
export const XEN_NETIF_EXTRA_TYPE_MAX = 5;
/** Another extra-info slot follows this one. */
export const XEN_NETIF_EXTRA_FLAG_MORE = 1;
export const XEN_NETIF_GSO_TYPE_NONE = 0;
export const XEN_NETIF_GSO_TYPE_TCPV4 = 1;
export const XEN_NETIF_GSO_TYPE_TCPV6 = 2;

/** One extra-info slot; `gso` is meaningful for XEN_NETIF_EXTRA_TYPE_GSO. */
export interface NetifExtraInfo {
  type: number;
  flags: number;
  gso: { size: number; type: number; features: number };
}

/** The extra-info slot as the request slot it occupies (what FrontRing.putRequest takes). */
export function extraInfoAsTxRequest(e: NetifExtraInfo): NetifTxRequest {
  const u8 = (name: string, v: number) => {
    if (!Number.isInteger(v) || v < 0 || v > 0xff) throw new RingError('bad_entry', `${name} ${v} does not fit u8`);
    return v;
  };
  const b = Buffer.alloc(txRequestCodec.size);
  b.writeUInt8(u8('extra type', e.type), 0);
  b.writeUInt8(u8('extra flags', e.flags), 1);
  b.writeUInt16LE(field('gso size', e.gso.size, 16), 2);
  b.writeUInt8(u8('gso type', e.gso.type), 4);
  b.writeUInt16LE(field('gso features', e.gso.features, 16), 6);
  return txRequestCodec.decode(b, 0);
}

/** Reads a TX request slot (already copied out of the ring) as the extra info it carries. */
export function txRequestAsExtraInfo(r: NetifTxRequest): NetifExtraInfo {
  const b = Buffer.alloc(txRequestCodec.size);
  txRequestCodec.encode(r, b, 0);
  return { type: b.readUInt8(0), flags: b.readUInt8(1), gso: { size: b.readUInt16LE(2), type: b.readUInt8(4), features: b.readUInt16LE(6) } };
}
