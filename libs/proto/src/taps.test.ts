import { describe, expect, it } from 'vitest';
import { parseTap, tapKey } from './taps.js';

describe('tap sessions in the KV bucket', () => {
  it('round-trips a capture and a trace through JSON', () => {
    const c = { kind: 'capture', session: 'c1', pointKind: 'nic', point: 'host-a/eth0' } as const;
    const t = { kind: 'trace', session: 't-2', src: '10.0.0.1', dst: '10.0.0.2', protocol: 1, ipId: 4242 } as const;
    expect(parseTap(JSON.stringify(c))).toEqual(c);
    expect(parseTap(JSON.stringify(t))).toEqual(t);
    expect(tapKey(c)).toBe('capture.c1');
    const port = { kind: 'capture', session: 'c3', pointKind: 'port', point: 'host-a/dom0/vxlan0' } as const;
    expect(parseTap(JSON.stringify(port))).toEqual(port);
  });

  it('refuses values that are not well-formed taps', () => {
    expect(parseTap('not json')).toBeUndefined();
    expect(parseTap(JSON.stringify({ kind: 'capture', session: 'a.b', pointKind: 'nic', point: 'x' }))).toBeUndefined();
    expect(parseTap(JSON.stringify({ kind: 'capture', session: 'a', pointKind: 'disk', point: 'x' }))).toBeUndefined();
    expect(parseTap(JSON.stringify({ kind: 'trace', session: 'a', src: '1', dst: '2', protocol: 1, ipId: 70000 }))).toBeUndefined();
  });
});
