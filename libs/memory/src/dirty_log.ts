import { checkMfn } from './page.js';

/** Checks a list of frames and returns it sorted without duplicates. */
export function sortedFrames(mfns: readonly number[], frames: number): number[] {
  for (const mfn of mfns) checkMfn(mfn, frames);
  return [...new Set(mfns)].sort((a, b) => a - b);
}

/**
 * Runs `fn` over the marks of `mfns` read in one go: `marks` holds one byte per frame from
 * `first` on (a span of the log, so that a large set costs one read, not one per frame).
 */
export function scanMarks(mfns: readonly number[], frames: number, read: (first: number, count: number) => Buffer): { sorted: number[]; marked: number[] } {
  const sorted = sortedFrames(mfns, frames);
  if (sorted.length === 0) return { sorted, marked: [] };
  const first = sorted[0];
  const marks = read(first, sorted[sorted.length - 1] - first + 1);
  return { sorted, marked: sorted.filter((mfn) => marks[mfn - first] !== 0) };
}
