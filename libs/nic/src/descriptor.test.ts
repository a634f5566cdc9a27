import { describe, expect, it } from 'vitest';
import {
  DESC_DD,
  DESC_DONE_NS_OFFSET,
  DESC_EOP,
  DESC_ERR,
  DESC_SIZE,
  decodeDescriptor,
  decodeWriteback,
  encodeDescriptor,
  encodeWriteback,
} from './index.js';

describe('descriptor writeback format', () => {
  it('round-trips a writeback, with the completion time as a float64 in the address bytes', () => {
    const wb = { doneNs: 123_456_789.25, len: 1514, flags: DESC_EOP, status: DESC_DD | DESC_ERR };
    const buf = encodeWriteback(wb);
    expect(buf.length).toBe(DESC_SIZE);
    expect(decodeWriteback(buf)).toEqual(wb);
    expect(buf.readDoubleLE(DESC_DONE_NS_OFFSET)).toBe(wb.doneNs);
  });

  it('overwrites a read-format descriptor in place, leaving its neighbours alone', () => {
    const ring = Buffer.alloc(3 * DESC_SIZE);
    for (let i = 0; i < 3; i++) encodeDescriptor({ addr: 0x1000 * (i + 1), len: 2048, flags: 0, status: 0 }, ring, i * DESC_SIZE);
    encodeWriteback({ doneNs: 5000, len: 60, flags: DESC_EOP, status: DESC_DD }, ring, DESC_SIZE);
    expect(decodeWriteback(ring, DESC_SIZE)).toEqual({ doneNs: 5000, len: 60, flags: DESC_EOP, status: DESC_DD });
    expect(decodeDescriptor(ring, 0)).toEqual({ addr: 0x1000, len: 2048, flags: 0, status: 0 });
    expect(decodeDescriptor(ring, 2 * DESC_SIZE)).toEqual({ addr: 0x3000, len: 2048, flags: 0, status: 0 });
  });

  it('refuses a completion time that is not a finite number >= 0', () => {
    for (const doneNs of [Number.NaN, -1, Number.POSITIVE_INFINITY]) {
      expect(() => encodeWriteback({ doneNs, len: 0, flags: 0, status: DESC_DD })).toThrow(RangeError);
    }
  });
});
