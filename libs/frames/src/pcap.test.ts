import { describe, it, expect } from 'vitest';
import { pcapFile, LINKTYPE_ETHERNET, PCAP_MAGIC_NSEC, PCAP_MAGIC_USEC, FrameError } from './index.js';

describe('pcap', () => {
  const frames = [
    { tNs: 1_500_000_123, bytes: Buffer.from('aabbccddeeff0011223344550800', 'hex') },
    { tNs: 2_000_000_000, bytes: Buffer.alloc(60, 1) },
  ];

  it('writes the libpcap global header: nanosecond magic, v2.4, snaplen, LINKTYPE_ETHERNET', () => {
    const f = pcapFile(frames);
    expect(f.subarray(0, 4).toString('hex')).toBe('4d3cb2a1'); // a1b23c4d little endian
    expect(f.readUInt32LE(0)).toBe(PCAP_MAGIC_NSEC);
    expect(f.readUInt16LE(4)).toBe(2);
    expect(f.readUInt16LE(6)).toBe(4);
    expect(f.readUInt32LE(16)).toBeGreaterThanOrEqual(65535);
    expect(f.readUInt32LE(20)).toBe(LINKTYPE_ETHERNET);
  });

  it('writes one record per frame with seconds, nanoseconds, lengths and the bytes', () => {
    const f = pcapFile(frames);
    expect(f.length).toBe(24 + 16 + 14 + 16 + 60);
    expect(f.readUInt32LE(24)).toBe(1);
    expect(f.readUInt32LE(28)).toBe(500_000_123);
    expect(f.readUInt32LE(32)).toBe(14);
    expect(f.readUInt32LE(36)).toBe(14);
    expect(f.subarray(40, 54).equals(frames[0]!.bytes)).toBe(true);
    expect(f.readUInt32LE(54)).toBe(2);
    expect(f.readUInt32LE(58)).toBe(0);
  });

  it('microsecond variant uses magic a1b2c3d4 and microsecond fractions', () => {
    const f = pcapFile(frames, { nanosecond: false });
    expect(f.readUInt32LE(0)).toBe(PCAP_MAGIC_USEC);
    expect(f.readUInt32LE(28)).toBe(500_000);
  });

  it('cuts frames at snaplen but records the original length', () => {
    const f = pcapFile([{ tNs: 0, bytes: Buffer.alloc(100) }], { snaplen: 64 });
    expect(f.readUInt32LE(24 + 8)).toBe(64);
    expect(f.readUInt32LE(24 + 12)).toBe(100);
    expect(f.length).toBe(24 + 16 + 64);
  });

  it('rejects negative timestamps', () => {
    expect(() => pcapFile([{ tNs: -1, bytes: Buffer.alloc(1) }])).toThrow(FrameError);
  });
});
