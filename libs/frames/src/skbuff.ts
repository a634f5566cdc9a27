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
  /**
   * Some frags are another domain's frames (`mfn` set), granted to this one (Linux's
   * SKBFL_ZEROCOPY_ENABLE and its ubuf_info): `done` must be told once when nobody needs
   * them any more — the NIC sent them, or the frame was dropped or copied — so that their
   * owner gets them back. skbFree tells it.
   */
  zerocopy?: SkbZerocopy;
}

/**
 * A piece of a page. With `mfn` it is a foreign frame (a guest's, mapped by grant): the bytes
 * are at that machine frame, `gfn` means nothing, and the page is never the holder's to give back.
 */
export interface SkbFrag { gfn: number; offset: number; len: number; mfn?: number }

/** The owner's side of an skb's foreign frames (xenvif_zerocopy_callback). */
export interface SkbZerocopy { done(): void }

/** The pages an skb owns (each once): what goes back to the pool when it is done with. */
export function skbPages(skb: SkBuff): number[] {
  if (skb.frags) return [...new Set(skb.frags.filter((f) => f.mfn === undefined).map((f) => f.gfn))];
  return skb.page ? [skb.page.gfn] : [];
}

/**
 * The skb is done with (sent, dropped, or its bytes copied elsewhere): tells the owner of its
 * foreign frames, once, and returns the pages it owns for the caller to give back.
 */
export function skbFree(skb: SkBuff): number[] {
  skbZerocopyDone(skb);
  return skbPages(skb);
}

/** Tells the owner of the skb's foreign frames that they are free again (once); a no-op without any. */
export function skbZerocopyDone(skb: SkBuff): void {
  const z = skb.zerocopy;
  if (!z) return;
  delete skb.zerocopy;
  z.done();
}
