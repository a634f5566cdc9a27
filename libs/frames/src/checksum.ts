// The Internet checksum (RFC 1071): one's complement of the one's-complement sum of
// 16-bit big-endian words. Sums are kept unfolded in a JS number (exact up to 2^53) and
// folded once at the end, which is why there is no carry handling inside the loop.

/** Unfolded sum of buf[start, end) as 16-bit big-endian words (odd tail padded with 0). */
export function sumWords(buf: Buffer, start: number, end: number, initial = 0): number {
  let sum = initial;
  let i = start;
  for (; i + 1 < end; i += 2) sum += (buf[i]! << 8) | buf[i + 1]!;
  if (i < end) sum += buf[i]! << 8;
  return sum;
}

/** Folds an unfolded sum to 16 bits and complements it. */
export function finishChecksum(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}

/** Internet checksum of buf[start, end). A buffer that carries a correct checksum sums to 0. */
export function internetChecksum(buf: Buffer, start = 0, end = buf.length): number {
  return finishChecksum(sumWords(buf, start, end));
}

/** Unfolded sum of the IPv4 pseudo header used by UDP and TCP (RFC 768, RFC 793). */
export function pseudoHeaderSum(src: number, dst: number, protocol: number, length: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + protocol + length;
}
