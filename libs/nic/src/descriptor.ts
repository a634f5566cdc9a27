// A NIC descriptor as it sits in a ring in machine memory (16 bytes, little endian),
// a simplified e1000/82576 descriptor with two formats, as Intel's advanced descriptors.
//
// Read format (written by the driver, read by the NIC):
//   addr   u64 @0   machine byte address of the buffer (mfn * 4096 + offset)
//   len    u16 @8   TX: bytes to send; RX: buffer size posted
//   flags  u16 @10  DESC_EOP: last descriptor of a frame; on a frame's first TX descriptor,
//                   DESC_TX_CSUM (insert the TCP/UDP checksum) and DESC_TX_TSO (segment)
//   status u16 @12  0 when posted
//   mss    u16 @14  TX with DESC_TX_TSO: payload bytes per segment (what an e1000 TSO
//                   context descriptor carries); 0 otherwise
//
// Writeback format (written by the NIC when it is done with the descriptor):
//   doneNs f64 @0   modelled completion time: TX when the frame's last bit left the wire,
//                   RX when the frame was DMA'd into the buffer. It overwrites addr, so the
//                   driver must remember each slot's buffer itself (as e1000/igb drivers do).
//   len    u16 @8   TX: as posted; RX: frame length
//   flags  u16 @10  DESC_EOP
//   status u16 @12  DESC_DD, plus DESC_ERR when the NIC could not use the buffer
//   (2 bytes reserved @14)
//
// The NIC writes back in wall time as soon as it has processed a descriptor, which can be
// before doneNs in modelled time; the driver must not take a descriptor before its doneNs.
export const DESC_SIZE = 16;
export const DESC_EOP = 1;
/** TX, first descriptor of a frame: the NIC computes and inserts the TCP/UDP checksum (e1000 TXSM). */
export const DESC_TX_CSUM = 2;
/** TX, first descriptor of a frame: the NIC cuts the TCP segment into frames of `mss` payload bytes (e1000 TSE). */
export const DESC_TX_TSO = 4;
export const DESC_MSS_OFFSET = 14;
export const DESC_DD = 1;
/** Written back with DD when the NIC could not use the descriptor's buffer (DMA fault). */
export const DESC_ERR = 2;

/** Writeback format: the modelled completion time (float64 LE) overwrites the address. */
export const DESC_DONE_NS_OFFSET = 0;
export const DESC_STATUS_OFFSET = 12;

export interface Descriptor {
  addr: number;
  len: number;
  flags: number;
  status: number;
  /** TX with DESC_TX_TSO: the MSS (absent when 0). */
  mss?: number;
}

/** A descriptor in writeback format. */
export interface DescriptorWriteback {
  /** Modelled time the NIC completed the descriptor, ns. */
  doneNs: number;
  len: number;
  flags: number;
  status: number;
}

export function encodeDescriptor(d: Descriptor, out: Buffer = Buffer.alloc(DESC_SIZE), off = 0): Buffer {
  if (!Number.isSafeInteger(d.addr) || d.addr < 0) throw new RangeError(`descriptor addr must be a non-negative safe integer, got ${d.addr}`);
  out.writeBigUInt64LE(BigInt(d.addr), off);
  writeTail(d, out, off);
  if (d.mss !== undefined) {
    if (!Number.isInteger(d.mss) || d.mss < 0 || d.mss > 0xffff) throw new RangeError(`descriptor mss must be an integer in 0..65535, got ${d.mss}`);
    out.writeUInt16LE(d.mss, off + DESC_MSS_OFFSET);
  }
  return out;
}

export function decodeDescriptor(buf: Buffer, off = 0): Descriptor {
  const addr = buf.readBigUInt64LE(off);
  const mss = buf.readUInt16LE(off + DESC_MSS_OFFSET);
  return {
    // An address beyond 2^53 cannot name machine memory; keep it unsafe so the DMA port refuses it.
    addr: addr > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(addr),
    len: buf.readUInt16LE(off + 8),
    flags: buf.readUInt16LE(off + 10),
    status: buf.readUInt16LE(off + DESC_STATUS_OFFSET),
    ...(mss !== 0 ? { mss } : {}),
  };
}

export function encodeWriteback(wb: DescriptorWriteback, out: Buffer = Buffer.alloc(DESC_SIZE), off = 0): Buffer {
  if (typeof wb.doneNs !== 'number' || !Number.isFinite(wb.doneNs) || wb.doneNs < 0) {
    throw new RangeError(`writeback doneNs must be a finite number >= 0, got ${String(wb.doneNs)}`);
  }
  out.writeDoubleLE(wb.doneNs, off + DESC_DONE_NS_OFFSET);
  writeTail(wb, out, off);
  return out;
}

/**
 * Reads a descriptor as the NIC wrote it back. Only meaningful when status has DESC_DD;
 * doneNs is returned as stored (a corrupt one may be NaN or negative: the caller checks).
 */
export function decodeWriteback(buf: Buffer, off = 0): DescriptorWriteback {
  return {
    doneNs: buf.readDoubleLE(off + DESC_DONE_NS_OFFSET),
    len: buf.readUInt16LE(off + 8),
    flags: buf.readUInt16LE(off + 10),
    status: buf.readUInt16LE(off + DESC_STATUS_OFFSET),
  };
}

function writeTail(d: { len: number; flags: number; status: number }, out: Buffer, off: number): void {
  out.writeUInt16LE(d.len, off + 8);
  out.writeUInt16LE(d.flags, off + 10);
  out.writeUInt16LE(d.status, off + DESC_STATUS_OFFSET);
  out.writeUInt16LE(0, off + 14);
}
