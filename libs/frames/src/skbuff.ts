/**
 * A frame held by a domain. When `page` is set the bytes already sit in that page of the
 * holding domain's memory (gfn of that domain) at `offset`, so a NIC can DMA them without
 * another copy; `bytes` is the domain's view of them.
 */
export interface SkBuff {
  bytes: Buffer;
  tNs: number;
  page?: { gfn: number; offset: number };
  /**
   * Scatter-gather (instead of `page`): the bytes sit in these pieces of pages of the holding
   * domain, in order — a frame that came over several netif slots. The skb owns every page named.
   */
  frags?: SkbFrag[];
  /**
   * CHECKSUM_PARTIAL: the sender left the TCP/UDP checksum to be completed by whoever sends
   * the frame on (a NIC with checksum offload, or the driver domain in software). The lab's
   * bytes carry a correct checksum either way; the flag says who still owes the work.
   */
  csumPartial?: boolean;
  /** A TCP segment larger than the MSS, still to be cut into frames of `size` payload bytes (TSO/GSO). */
  gso?: { size: number };
}

export interface SkbFrag { gfn: number; offset: number; len: number }

/** The pages an skb owns (each once): what goes back to the pool when it is done with. */
export function skbPages(skb: SkBuff): number[] {
  if (skb.frags) return [...new Set(skb.frags.map((f) => f.gfn))];
  return skb.page ? [skb.page.gfn] : [];
}
