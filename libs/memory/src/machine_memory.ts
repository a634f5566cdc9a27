/** One host's RAM: an array of 4 KiB machine frames addressed by mfn. */
export interface MachineMemory {
  readonly frames: number;
  /** A fresh copy of the bytes (never a view of shared storage). */
  read(mfn: number, offset: number, length: number): Buffer;
  write(mfn: number, offset: number, data: Buffer): void;
  copy(srcMfn: number, srcOff: number, dstMfn: number, dstOff: number, length: number): void;
  /** sha256 hex of the frame's 4096 bytes. */
  hashFrame(mfn: number): string;
  close(): void;
}
