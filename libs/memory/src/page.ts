import { createHash } from 'node:crypto';

export const PAGE_SIZE = 4096;

function isNonNegInt(v: number): boolean {
  return Number.isInteger(v) && v >= 0;
}

/** Checks that `mfn` names a frame of a memory of `frames` frames. */
export function checkMfn(mfn: number, frames: number): void {
  if (!isNonNegInt(mfn)) throw new RangeError(`mfn ${mfn} is not a non-negative integer`);
  if (mfn >= frames) throw new RangeError(`mfn ${mfn} >= frames ${frames}`);
}

/** Checks that [offset, offset+length) lies inside one 4 KiB page. */
export function checkSpan(offset: number, length: number): void {
  if (!isNonNegInt(offset)) throw new RangeError(`offset ${offset} is not a non-negative integer`);
  if (!isNonNegInt(length)) throw new RangeError(`length ${length} is not a non-negative integer`);
  if (offset + length > PAGE_SIZE) {
    throw new RangeError(`offset ${offset} + length ${length} > ${PAGE_SIZE}`);
  }
}

export function checkFrameCount(frames: number): void {
  if (!Number.isInteger(frames) || frames <= 0) {
    throw new RangeError(`frames ${frames} is not a positive integer`);
  }
}

export function sha256Hex(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
