/** One host's RAM: an array of 4 KiB machine frames addressed by mfn. */
export interface MachineMemory {
  readonly frames: number;
  /** A fresh copy of the bytes (never a view of shared storage). */
  read(mfn: number, offset: number, length: number): Buffer;
  write(mfn: number, offset: number, data: Buffer): void;
  copy(srcMfn: number, srcOff: number, dstMfn: number, dstOff: number, length: number): void;
  /** sha256 hex of the frame's 4096 bytes. */
  hashFrame(mfn: number): string;
  /**
   * The machine's dirty log: every write and copy marks its destination frame, whoever made
   * it (a domain, the hypervisor's grant copy, a device's DMA), as log-dirty mode needs. This
   * returns which of `mfns` are marked (ascending, no duplicates) and clears their marks.
   * A writer marks after writing, the caller reads pages after clearing: a write that races
   * the caller's read is marked again and seen next time.
   */
  takeDirty(mfns: readonly number[]): number[];
  /** How many of `mfns` are marked, without clearing them. */
  countDirty(mfns: readonly number[]): number;
  close(): void;
}
