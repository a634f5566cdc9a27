/** Size of the page a shared ring lives in (Xen's PAGE_SIZE on x86). */
export const RING_PAGE_SIZE = 4096;

/**
 * Byte access to the 4 KiB page that holds a shared ring. In a running lab every call is a
 * syscall on the host's shared machine-memory file, so the rings read and write entries in
 * bulk ranges rather than one by one.
 */
export interface RingPage {
  read(offset: number, length: number): Buffer;
  write(offset: number, data: Buffer): void;
}

/** Why a ring refused an operation. */
export type RingErrorReason = 'ring_full' | 'bad_range' | 'bad_entry' | 'bad_codec' | 'bad_page';

export class RingError extends Error {
  constructor(readonly reason: RingErrorReason, message: string) {
    super(`${reason}: ${message}`);
    this.name = 'RingError';
  }
}

/** A ring page over a plain 4096-byte Buffer (tests, or a ring private to one process). */
export function bufferRingPage(buf?: Buffer): RingPage {
  const page = buf ?? Buffer.alloc(RING_PAGE_SIZE);
  if (page.length !== RING_PAGE_SIZE) {
    throw new RingError('bad_page', `a ring page is ${RING_PAGE_SIZE} bytes, got ${page.length}`);
  }
  const check = (offset: number, length: number): void => {
    if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0 || offset + length > RING_PAGE_SIZE) {
      throw new RingError('bad_range', `offset ${offset} length ${length} outside the ${RING_PAGE_SIZE}-byte page`);
    }
  };
  return {
    read(offset, length) {
      check(offset, length);
      return Buffer.from(page.subarray(offset, offset + length)); // a copy, as a syscall read would give
    },
    write(offset, data) {
      check(offset, data.length);
      data.copy(page, offset);
    },
  };
}
