/** The device's view of machine memory: byte addresses, possibly behind an IOMMU. */
export interface DmaPort {
  read(addr: number, len: number): Buffer;
  write(addr: number, data: Buffer): void;
}

/** A DMA the port refused (outside memory, or not mapped for this device by the IOMMU). */
export class DmaFault extends Error {
  constructor(
    readonly addr: number,
    readonly len: number,
    readonly reason: string,
  ) {
    super(`DMA fault at 0x${Math.max(0, addr).toString(16)} (+${len}): ${reason}`);
    this.name = 'DmaFault';
  }
}

/** The part of @vnetlab/memory's MachineMemory that DMA needs. */
export interface DmaMachineMemory {
  readonly frames: number;
  read(mfn: number, offset: number, length: number): Buffer;
  write(mfn: number, offset: number, data: Buffer): void;
}

const PAGE = 4096;

/**
 * A DmaPort straight onto machine memory (no IOMMU): splits a transfer at frame
 * boundaries, and refuses an address outside memory with a DmaFault. An IOMMU wraps it.
 */
export function machineMemoryDma(mem: DmaMachineMemory): DmaPort {
  const check = (addr: number, len: number): void => {
    if (!Number.isSafeInteger(addr) || addr < 0) throw new DmaFault(addr, len, 'bad address');
    if (!Number.isSafeInteger(len) || len < 0) throw new DmaFault(addr, len, 'bad length');
    if (addr + len > mem.frames * PAGE) throw new DmaFault(addr, len, `beyond machine memory (${mem.frames} frames)`);
  };
  return {
    read(addr, len) {
      check(addr, len);
      const parts: Buffer[] = [];
      for (let a = addr, left = len; left > 0; ) {
        const off = a % PAGE;
        const n = Math.min(left, PAGE - off);
        parts.push(mem.read(Math.floor(a / PAGE), off, n));
        a += n;
        left -= n;
      }
      return parts.length === 1 ? parts[0]! : Buffer.concat(parts, len);
    },
    write(addr, data) {
      check(addr, data.length);
      for (let a = addr, done = 0; done < data.length; ) {
        const off = a % PAGE;
        const n = Math.min(data.length - done, PAGE - off);
        mem.write(Math.floor(a / PAGE), off, data.subarray(done, done + n));
        a += n;
        done += n;
      }
    },
  };
}
