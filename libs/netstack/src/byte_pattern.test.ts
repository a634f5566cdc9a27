import { describe, it, expect } from 'vitest';
import { BytePattern, flowSeed } from './byte_pattern.js';

describe('BytePattern', () => {
  const p = new BytePattern(flowSeed('tcp:10.0.0.1:49152>10.0.0.2:5001'));

  it('gives the same bytes however the stream is cut, across 64 KiB block edges', () => {
    const whole = p.bytes(60_000, 80_000);
    const pieces = Buffer.concat([p.bytes(60_000, 5_536), p.bytes(65_536, 1), p.bytes(65_537, 74_463)]);
    expect(pieces.equals(whole)).toBe(true);
    for (const i of [0, 5_535, 5_536, 79_999]) expect(whole[i]).toBe(p.byteAt(60_000 + i));
  });

  it('detects data shifted by a segment or by a whole block, and counts differing bytes', () => {
    const seg = p.bytes(1460, 1460);
    expect(p.mismatches(1460, seg)).toBe(0);
    expect(p.mismatches(2920, seg)).toBeGreaterThan(1000);
    expect(p.mismatches(1460 + 65_536, seg)).toBeGreaterThan(1000);
    const one = Buffer.from(seg);
    one[7]! ^= 1;
    expect(p.mismatches(1460, one)).toBe(1);
  });

  it('differs between flows', () => {
    const q = new BytePattern(flowSeed('tcp:10.0.0.1:49153>10.0.0.2:5001'));
    expect(q.mismatches(0, p.bytes(0, 1000))).toBeGreaterThan(900);
  });
});
