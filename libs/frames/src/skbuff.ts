/**
 * A frame held by a domain. When `page` is set the bytes already sit in that page of the
 * holding domain's memory (gfn of that domain) at `offset`, so a NIC can DMA them without
 * another copy; `bytes` is the domain's view of them.
 */
export interface SkBuff { bytes: Buffer; tNs: number; page?: { gfn: number; offset: number } }
