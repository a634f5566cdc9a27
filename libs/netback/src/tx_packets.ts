// How netback reads packets out of the TX requests it copied off the ring (netback.c's
// xenvif_count_requests, xenvif_get_extras and xenvif_set_skb_gso): a packet is a head
// request, the extra-info slots its NETTXF_extra_info announces, and the further data
// requests its NETTXF_more_data chains. Every check is made on the copies; a packet that
// fails one is refused whole, with the reason, and the chain is still followed to its end so
// that the next packet starts where it really does.
import { PAGE_SIZE } from '@vnetlab/memory';
import {
  NETTXF_KNOWN, NETTXF_extra_info, NETTXF_more_data,
  XEN_NETIF_EXTRA_FLAG_MORE, XEN_NETIF_EXTRA_TYPE_GSO, XEN_NETIF_EXTRA_TYPE_MAX, XEN_NETIF_EXTRA_TYPE_NONE, XEN_NETIF_GSO_TYPE_TCPV4,
  txRequestAsExtraInfo, type NetifTxRequest,
} from '@vnetlab/ring';
import { ETH_HLEN } from './frontend_rings.js';

/** Most data slots one packet may take (XEN_NETBK_LEGACY_SLOTS_MAX = MAX_SKB_FRAGS + 1). */
export const XEN_NETBK_LEGACY_SLOTS_MAX = 18;

/** What the backend offered in xenstore: feature-sg (chains) and feature-gso-tcpv4 (the GSO extra). */
export interface TxFeatures { sg: boolean; gsoTcpv4: boolean }

export interface TxPacket {
  /** The data requests, head first; the head's size is the whole packet's. */
  data: NetifTxRequest[];
  /** Every slot the packet took, in ring order (extra-info slots are answered NETIF_RSP_NULL). */
  slots: Array<{ req: NetifTxRequest; extra: boolean }>;
  /** Bytes of the whole packet (the head request's size). */
  size: number;
  /** Bytes of each data request, in order: the head's is what the others leave of `size`. */
  lengths: number[];
  /** The head request's flags. */
  flags: number;
  /** The MSS of a GSO packet (XEN_NETIF_EXTRA_TYPE_GSO, TCPv4). */
  gsoSize?: number;
  /** Why the packet is refused; undefined when it may be copied. */
  reason?: string;
}

/**
 * Splits copied-out TX requests into packets. A chain the requests end in the middle of is
 * refused as 'incomplete_chain' (a frontend publishes a packet's slots together).
 */
export function parseTxPackets(reqs: readonly NetifTxRequest[], features: TxFeatures): TxPacket[] {
  const out: TxPacket[] = [];
  let i = 0;
  while (i < reqs.length) {
    const head = reqs[i++]!;
    const p: TxPacket = { data: [head], slots: [{ req: head, extra: false }], size: head.size, lengths: [], flags: head.flags };
    const refuse = (reason: string) => { p.reason ??= reason; };
    if (head.flags & ~NETTXF_KNOWN) refuse('bad_flags');
    // scatter-gather and extra-info slots need feature-sg / feature-gso-tcpv4
    if ((head.flags & NETTXF_more_data && !features.sg) || (head.flags & NETTXF_extra_info && !features.gsoTcpv4)) {
      refuse('unsupported_flags');
      out.push(finish(p, []));
      continue; // not offered: the following requests are packets of their own
    }

    // the extra-info slots (xenvif_get_extras)
    let more = (head.flags & NETTXF_extra_info) !== 0;
    while (more) {
      const slot = reqs[i];
      if (!slot) { refuse('missing_extra_info'); break; }
      i++;
      p.slots.push({ req: slot, extra: true });
      const e = txRequestAsExtraInfo(slot);
      more = (e.flags & XEN_NETIF_EXTRA_FLAG_MORE) !== 0;
      if (e.type === XEN_NETIF_EXTRA_TYPE_NONE || e.type >= XEN_NETIF_EXTRA_TYPE_MAX) { refuse('bad_extra_type'); continue; }
      if (e.type !== XEN_NETIF_EXTRA_TYPE_GSO) { refuse('unsupported_extra'); continue; }
      if (p.gsoSize !== undefined) { refuse('duplicate_extra'); continue; }
      if (e.gso.size === 0) { refuse('gso_size_zero'); continue; }
      if (e.gso.type !== XEN_NETIF_GSO_TYPE_TCPV4) { refuse('gso_bad_type'); continue; }
      p.gsoSize = e.gso.size;
    }

    // the data slots of the chain (xenvif_count_requests)
    let remaining = head.size;
    const rest: number[] = [];
    let chained = (head.flags & NETTXF_more_data) !== 0;
    while (chained) {
      const slot = reqs[i];
      if (!slot) { refuse('incomplete_chain'); break; }
      i++;
      p.data.push(slot);
      p.slots.push({ req: slot, extra: false });
      chained = (slot.flags & NETTXF_more_data) !== 0;
      if (p.data.length > XEN_NETBK_LEGACY_SLOTS_MAX) refuse('too_many_slots');
      if (slot.size > remaining) refuse('slot_too_big'); // "slot size > remaining size"
      remaining -= Math.min(slot.size, remaining);
      if (slot.offset + slot.size > PAGE_SIZE) refuse('crosses_page');
      rest.push(slot.size);
    }
    out.push(finish(p, rest));
  }
  return out;
}

function finish(p: TxPacket, rest: number[]): TxPacket {
  const head = p.data[0]!;
  const first = p.size - rest.reduce((a, b) => a + b, 0);
  p.lengths = [Math.max(0, first), ...rest];
  if (first < ETH_HLEN) p.reason ??= 'runt_frame';
  if (head.offset + Math.max(0, first) > PAGE_SIZE) p.reason ??= 'crosses_page';
  return p;
}
