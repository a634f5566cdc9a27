import { describe, it, expect } from 'vitest';
import { bytesToMac, ipToNumber, macToBytes, numberToIp, FrameError } from './index.js';

describe('addresses', () => {
  it('MAC strings round-trip through bytes and come back lower case', () => {
    expect(bytesToMac(macToBytes('02:00:00:00:0A:FF'))).toBe('02:00:00:00:0a:ff');
  });

  it('rejects malformed MACs with reason bad_address', () => {
    for (const m of ['02:00:00:00:01', '02-00-00-00-01-01', 'zz:00:00:00:01:01', '']) {
      expect(() => macToBytes(m)).toThrow(FrameError);
      try { macToBytes(m); } catch (e) { expect((e as FrameError).reason).toBe('bad_address'); }
    }
  });

  it('IPv4 dotted quads round-trip as unsigned 32-bit numbers', () => {
    expect(ipToNumber('10.0.0.1')).toBe(0x0a000001);
    expect(ipToNumber('255.255.255.255')).toBe(0xffffffff);
    expect(numberToIp(0xc0a800c7)).toBe('192.168.0.199');
  });

  it('rejects bad IPv4 strings and numbers', () => {
    for (const ip of ['10.0.0', '10.0.0.256', '10.0.0.01', '10.0.0.-1', 'a.b.c.d', '1.2.3.4.5']) {
      expect(() => ipToNumber(ip), ip).toThrow(/bad_address/);
    }
    expect(() => numberToIp(2 ** 32)).toThrow(FrameError);
  });
});
