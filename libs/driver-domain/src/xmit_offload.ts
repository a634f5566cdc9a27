// What the driver domain does to a frame before a device that lacks an offload the frame
// still needs (Linux's validate_xmit_skb): a TCP segment larger than the MSS is cut in
// software (GSO, skb_segment), and a checksum the guest left partial is computed
// (skb_checksum_help) — each on dom0's CPU at its per-primitive cost. A device that has the
// offload gets the frame as it is, and the work is its own (no CPU).
import type { Cpu } from '@vnetlab/cost';
import { FrameError, checksummedBytes, completeL4Checksum, segmentCount, segmentTcp, skbFree, tcpPayloadBytes, type SkBuff } from '@vnetlab/frames';
import { PAGE_SIZE, type GuestMemory, type PagePool } from '@vnetlab/memory';

/**
 * What a device does itself: insert checksums, cut TCP segments (a NIC's netdev features),
 * and gather a frame from page fragments (sg; absent: it does, as every NIC driver here).
 */
export interface XmitFeatures { csum: boolean; tso: boolean; sg?: boolean }

/** A NIC without offloads. */
export const NO_OFFLOAD: XmitFeatures = { csum: false, tso: false };
/** An emulated NIC's device model: no offloads, one buffer per frame. */
export const EMULATED: XmitFeatures = { csum: false, tso: false, sg: false };
/**
 * A vif towards a guest: a checksum left partial goes up as NETRXF_csum_blank (the receiving
 * guest trusts it, so nobody computes it), but netback's receive path takes one page per
 * frame, so a large segment is cut first.
 */
export const VIF_RX: XmitFeatures = { csum: true, tso: false, sg: false };

export interface XmitContext { dom0: GuestMemory; pages: PagePool; cpu: Cpu; domain: string }

export interface XmitResult {
  /** What goes to the device: the skb itself, or its segments (each page-backed). */
  skbs: SkBuff[];
  /** Why the skb could not be prepared: the caller drops it whole (its pages still its own). */
  drop?: string;
  /** Segments lost for want of a dom0 page (the caller counts them as drops). */
  lost: number;
}

/** Frames an skb stands for on the wire: a GSO skb its segments, any other one frame. */
export function wireFrames(skb: SkBuff): number {
  return skb.gso ? segmentCount(tcpPayloadBytes(skb.bytes), skb.gso.size) : 1;
}

/**
 * Makes `skb` fit a device with `features`, charging dom0 for the work done in software.
 * The lab's bytes always carry correct checksums; completing one recomputes it in place all
 * the same, so what leaves is what the work produced.
 */
export function prepareXmit(skb: SkBuff, features: XmitFeatures, ctx: XmitContext): XmitResult {
  if (skb.gso && !features.tso) return softwareGso(skb, features.csum, ctx);
  if (skb.frags && !skb.gso && features.sg === false) {
    // a frame a frontend sent over several slots, for a device that takes one buffer (skb_linearize)
    if (skb.bytes.length > PAGE_SIZE) return { skbs: [], drop: 'frame_too_big', lost: 0 };
    const gfn = ctx.pages.take();
    if (gfn === undefined) return { skbs: [], drop: 'no_buffer', lost: 0 };
    ctx.dom0.write(gfn, 0, skb.bytes);
    const foreign = { foreign: skb.zerocopy !== undefined };
    for (const g of skbFree(skb)) ctx.pages.give(g);
    delete skb.frags;
    skb.page = { gfn, offset: 0 };
    skb.tNs = ctx.cpu.run(skb.tNs, ctx.domain, [['copy_byte', skb.bytes.length]], foreign);
  }
  if (skb.csumPartial && !features.csum) {
    try {
      completeL4Checksum(skb.bytes);
    } catch (e) {
      if (e instanceof FrameError) return { skbs: [], drop: 'csum_malformed', lost: 0 };
      throw e;
    }
    writeBack(skb, ctx.dom0);
    skb.tNs = ctx.cpu.run(skb.tNs, ctx.domain, [['checksum_byte', checksummedBytes(skb.bytes)]], { foreign: skb.zerocopy !== undefined });
    delete skb.csumPartial;
  }
  return { skbs: [skb], lost: 0 };
}

/**
 * GSO: cuts the segment into MSS frames on dom0's CPU — gso_segment per frame, and
 * checksum_byte over each frame's checksummed bytes when the device cannot insert checksums.
 * The segments' payload is not copied in Linux (they share the original's page fragments,
 * which the NIC gathers); the lab lays each segment out in a dom0 page of its own instead, a
 * layout of the lab's that is not charged. The original's pages go back to the pool.
 */
function softwareGso(skb: SkBuff, deviceCsum: boolean, ctx: XmitContext): XmitResult {
  let frames: Buffer[];
  try {
    frames = segmentTcp(skb.bytes, skb.gso!.size);
  } catch (e) {
    if (e instanceof FrameError) return { skbs: [], drop: 'gso_malformed', lost: 0 };
    throw e;
  }
  const charges: Array<[('gso_segment' | 'checksum_byte'), number]> = [['gso_segment', frames.length]];
  if (!deviceCsum) charges.push(['checksum_byte', frames.reduce((n, f) => n + checksummedBytes(f), 0)]);
  // a guest's granted pages (map, noremap) are 4 KB mappings: walked page by page
  const t = ctx.cpu.run(skb.tNs, ctx.domain, charges, { foreign: skb.zerocopy !== undefined });
  for (const g of skbFree(skb)) ctx.pages.give(g);
  const out: SkBuff[] = [];
  let lost = 0;
  for (const f of frames) {
    const gfn = f.length <= PAGE_SIZE ? ctx.pages.take() : undefined;
    if (gfn === undefined) {
      lost++;
      continue;
    }
    ctx.dom0.write(gfn, 0, f);
    out.push({ bytes: f, tNs: t, page: { gfn, offset: 0 }, ...(deviceCsum ? { csumPartial: true } : {}) });
  }
  return { skbs: out, lost };
}

/**
 * Writes the skb's bytes back where they sit in dom0's memory (its page or fragments). A
 * guest's frame (a foreign fragment) is mapped read-only and is left as it is: the lab's
 * bytes already carry the checksum there, so the NIC sends the same bytes.
 */
function writeBack(skb: SkBuff, dom0: GuestMemory): void {
  if (skb.page && skb.page.offset + skb.bytes.length <= PAGE_SIZE) dom0.write(skb.page.gfn, skb.page.offset, skb.bytes);
  let at = 0;
  for (const f of skb.frags ?? []) {
    if (f.mfn === undefined) dom0.write(f.gfn, f.offset, skb.bytes.subarray(at, at + f.len));
    at += f.len;
  }
}
