import { inspect } from '@vnetlab/proto';
import { describe, expect, it } from 'vitest';
import { Taps, UNKNOWN_POINT, type PointAnswer } from './taps.js';
import type { Service } from './service.js';

/** The part of a Service that Taps uses: what it publishes is kept. */
function fakeService() {
  const sent: inspect.CapturedFrame[] = [];
  const svc = {
    name: 'host-a/dom0', kind: 'driver-domain', host: 'host-a',
    publish: (_subject: string, data: Uint8Array) => sent.push(inspect.CapturedFrame.decode(data)),
    metrics: { badMessage: () => undefined },
    log: { warn: () => undefined },
  } as unknown as Service;
  return { svc, sent };
}

const tick = () => new Promise((r) => setTimeout(r, 0));
const tap = (session: string, point: string) => JSON.stringify({ kind: 'capture', session, pointKind: 'port', point });

describe('taps with points that come and go (a driver domain\'s switch ports)', () => {
  const ports = ['vif1.0', 'vxlan0'];
  const resolve = (point: string): PointAnswer => {
    if (!point.startsWith('host-a/dom0/')) return undefined;
    const name = point.slice('host-a/dom0/'.length);
    if (ports.includes(name)) return { serve: point };
    if (name === 'vm-a1') return { serve: 'host-a/dom0/vif1.0' };
    return { unknown: ports.map((p) => `host-a/dom0/${p}`) };
  };

  it('arms a served point under its canonical name and copies only its frames', async () => {
    const { svc, sent } = fakeService();
    const taps = new Taps(svc, { port: resolve });
    taps['onChange']('capture.c1', tap('c1', 'host-a/dom0/vm-a1'));
    expect(taps.capturing).toBe(false); // not before the point is resolved
    await tick();
    expect(sent.map((f) => [f.direction, f.point])).toEqual([['armed', 'host-a/dom0/vif1.0']]);
    expect(taps.capturing).toBe(true);
    taps.capture('port', 'host-a/dom0/vxlan0', 'tx', Buffer.from('other port'), 5);
    taps.capture('port', 'host-a/dom0/vif1.0', 'rx', Buffer.from('frame'), 7);
    expect(sent.slice(1).map((f) => [f.direction, Buffer.from(f.data).toString(), f.tNs])).toEqual([['rx', 'frame', 7]]);
    taps['onChange']('capture.c1', undefined);
    expect(taps.capturing).toBe(false);
  });

  it('refuses a port of its own that does not exist, naming the ports it has', async () => {
    const { svc, sent } = fakeService();
    const taps = new Taps(svc, { port: resolve });
    taps['onChange']('capture.c2', tap('c2', 'host-a/dom0/vif9.0'));
    await tick();
    expect(sent.map((f) => [f.direction, Buffer.from(f.data).toString()])).toEqual([[UNKNOWN_POINT, 'host-a/dom0/vif1.0, host-a/dom0/vxlan0']]);
    expect(taps.capturing).toBe(false);
  });

  it('stays silent about another host\'s ports, and about a session that ended while it looked', async () => {
    const { svc, sent } = fakeService();
    const taps = new Taps(svc, { port: resolve });
    taps['onChange']('capture.c3', tap('c3', 'host-b/dom0/vif1.0'));
    taps['onChange']('capture.c4', tap('c4', 'host-a/dom0/vif1.0'));
    taps['onChange']('capture.c4', undefined);
    await tick();
    expect(sent).toEqual([]);
    expect(taps.capturing).toBe(false);
  });
});
