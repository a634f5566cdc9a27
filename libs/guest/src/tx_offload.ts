// What the guest kernel does per frame it sends, by what its virtual interface offloads
// (Menon et al. 2006's virtual offloads): the stack's per-segment work always; the TCP/UDP
// checksum in software unless the interface takes it (then the frame goes down marked
// checksum-partial); and a TCP segment larger than the MSS goes down whole for the
// interface to have cut (TSO), standing for as many frames on the wire.
import type { Primitive } from '@vnetlab/cost';
import { checksummedBytes, isOffloadableL4, segmentCount, tcpPayloadBytes } from '@vnetlab/frames';

/** What a guest interface offloads (the topology's `offload: { csum, tso }`). */
export interface InterfaceOffload { csum: boolean; tso: boolean }

/** What the kernel asks of its device for one frame (netfront's TxOffload). */
export interface FrameOffload { csumBlank?: boolean; gsoSize?: number }

export interface TxWork {
  /** Charged on the guest's CPU before the frame goes to the device. */
  charges: Array<[Primitive, number]>;
  /** The offloads the device is asked for, if any. */
  offload?: FrameOffload;
  /** Bytes of each frame this one becomes on the wire (one entry unless it is a TSO segment). */
  wireBytes: number[];
}

/**
 * The work of sending `frame`: stack_tx once (once per large segment under TSO), plus
 * checksum_byte over every byte the checksum covers when the interface does not take it
 * (ICMP's always: checksum offload is for TCP and UDP). `gsoSize` is the stack's MSS for a
 * frame it built as a TSO segment.
 */
export function txWork(frame: Buffer, offload: InterfaceOffload | undefined, gsoSize: number | undefined): TxWork {
  const charges: Array<[Primitive, number]> = [['stack_tx', 1]];
  const partial = offload?.csum === true && isOffloadableL4(frame);
  if (!partial) {
    const n = checksummedBytes(frame);
    if (n > 0) charges.push(['checksum_byte', n]);
  }
  const out: FrameOffload = {};
  if (partial) out.csumBlank = true;
  let wireBytes = [frame.length];
  if (gsoSize !== undefined) {
    out.gsoSize = gsoSize;
    const payload = tcpPayloadBytes(frame);
    const header = frame.length - payload;
    const n = segmentCount(payload, gsoSize);
    wireBytes = Array.from({ length: n }, (_, k) => header + Math.min(gsoSize, payload - k * gsoSize));
  }
  return { charges, ...(partial || gsoSize !== undefined ? { offload: out } : {}), wireBytes };
}
