import { describe, it, expect } from 'vitest';
import { internetChecksum, pseudoHeaderSum, sumWords, finishChecksum } from './checksum.js';

describe('internet checksum (RFC 1071)', () => {
  it('matches the RFC 1071 §3 worked example (sum ddf2 → checksum 220d)', () => {
    const b = Buffer.from('0001f203f4f5f6f7', 'hex');
    expect(internetChecksum(b)).toBe(0x220d);
  });

  it('pads an odd trailing byte with zero', () => {
    expect(internetChecksum(Buffer.from([0xab]))).toBe(~0xab00 & 0xffff);
  });

  it('a buffer carrying its own checksum sums to zero', () => {
    const b = Buffer.from('450000730000400040110000c0a80001c0a800c7', 'hex');
    b.writeUInt16BE(internetChecksum(b), 10);
    expect(internetChecksum(b)).toBe(0);
  });

  it('folds carries from many words without losing them', () => {
    const b = Buffer.alloc(4000, 0xff);
    expect(finishChecksum(sumWords(b, 0, b.length))).toBe(0);
    expect(finishChecksum(pseudoHeaderSum(0xffffffff, 0xffffffff, 17, 0xffff))).toBe(~((0xffff * 5 + 17) % 0xffff) & 0xffff);
  });
});
