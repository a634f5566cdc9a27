// A NIC descriptor as it sits in a ring in machine memory (16 bytes, little endian),
// a simplified e1000/82576 legacy descriptor:
//   addr   u64 @0   machine byte address of the buffer (mfn * 4096 + offset)
//   len    u16 @8   TX: bytes to send; RX: buffer size posted, frame length written back
//   flags  u16 @10  DESC_EOP: last descriptor of a frame
//   status u16 @12  DESC_DD written back by the NIC when it is done with the descriptor
//   (2 bytes reserved @14)
export const DESC_SIZE = 16;
export const DESC_EOP = 1;
export const DESC_DD = 1;
/** Written back with DD when the NIC could not use the descriptor's buffer (DMA fault). */
export const DESC_ERR = 2;

export const DESC_STATUS_OFFSET = 12;

export interface Descriptor {
  addr: number;
  len: number;
  flags: number;
  status: number;
}

export function encodeDescriptor(d: Descriptor, out: Buffer = Buffer.alloc(DESC_SIZE), off = 0): Buffer {
  if (!Number.isSafeInteger(d.addr) || d.addr < 0) throw new RangeError(`descriptor addr must be a non-negative safe integer, got ${d.addr}`);
  out.writeBigUInt64LE(BigInt(d.addr), off);
  out.writeUInt16LE(d.len, off + 8);
  out.writeUInt16LE(d.flags, off + 10);
  out.writeUInt16LE(d.status, off + 12);
  out.writeUInt16LE(0, off + 14);
  return out;
}

export function decodeDescriptor(buf: Buffer, off = 0): Descriptor {
  const addr = buf.readBigUInt64LE(off);
  return {
    // An address beyond 2^53 cannot name machine memory; keep it unsafe so the DMA port refuses it.
    addr: addr > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(addr),
    len: buf.readUInt16LE(off + 8),
    flags: buf.readUInt16LE(off + 10),
    status: buf.readUInt16LE(off + 12),
  };
}

export function statusBytes(status: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(status, 0);
  return b;
}
