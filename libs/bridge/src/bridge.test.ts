import { describe, it, expect } from 'vitest';
import { buildUdpFrame, encodeEthernet, BROADCAST_MAC } from '@vnetlab/frames';
import { Bridge, BridgeError, DEFAULT_AGEING_NS } from './index.js';

const A = '02:00:00:00:01:01', B = '02:00:00:00:01:02', C = '02:00:00:00:01:03';

function frame(src: string, dst: string): Buffer {
  return encodeEthernet({ src, dst, ethertype: 0x0800, payload: Buffer.alloc(46) });
}

function bridgeWith(...ports: string[]): Bridge {
  const br = new Bridge();
  for (const p of ports) br.addPort(p);
  return br;
}

describe('Bridge learning and forwarding', () => {
  it('floods an unknown unicast to every other port and learns the source on the in-port', () => {
    const br = bridgeWith('vif1.0', 'vif2.0', 'eth0');
    const r = br.forward('vif1.0', frame(A, B), 1000);
    expect(r).toEqual({ out: ['vif2.0', 'eth0'], learned: true, flooded: true });
    expect(br.fdb()).toEqual([{ mac: A, port: 'vif1.0', lastSeenNs: 1000 }]);
  });

  it('sends a known unicast to exactly the learned port', () => {
    const br = bridgeWith('vif1.0', 'vif2.0', 'eth0');
    br.forward('vif1.0', frame(A, B), 0);
    const r = br.forward('vif2.0', frame(B, A), 10);
    expect(r).toEqual({ out: ['vif1.0'], learned: true, flooded: false });
    const again = br.forward('vif1.0', frame(A, B), 20);
    expect(again).toEqual({ out: ['vif2.0'], learned: false, flooded: false });
  });

  it('floods broadcast and multicast even when the destination looks learned', () => {
    const br = bridgeWith('p1', 'p2', 'p3');
    expect(br.forward('p2', frame(B, BROADCAST_MAC), 0).out).toEqual(['p1', 'p3']);
    expect(br.forward('p1', frame(A, '01:00:5e:00:00:01'), 0)).toMatchObject({ out: ['p2', 'p3'], flooded: true });
  });

  it('drops a frame whose known destination sits behind its own in-port', () => {
    const br = bridgeWith('p1', 'p2');
    br.forward('p1', frame(A, C), 0);
    br.forward('p1', frame(B, C), 0); // both A and B learned on p1
    const r = br.forward('p1', frame(A, B), 5);
    expect(r).toMatchObject({ out: [], drop: 'same_port' });
    expect(br.stats().drops.same_port).toBe(1);
  });

  it('drops frames too short for an Ethernet header as malformed, without learning', () => {
    const br = bridgeWith('p1', 'p2');
    expect(br.forward('p1', Buffer.alloc(13, 2), 0)).toEqual({ out: [], learned: false, flooded: false, drop: 'malformed' });
    expect(br.fdb()).toEqual([]);
  });

  it('refuses multicast or zero source MACs and never forwards 802.1D link-local groups', () => {
    const br = bridgeWith('p1', 'p2');
    expect(br.forward('p1', frame('01:00:5e:00:00:01', B), 0).drop).toBe('bad_source_mac');
    expect(br.forward('p1', frame('00:00:00:00:00:00', B), 0).drop).toBe('bad_source_mac');
    expect(br.forward('p1', frame(A, '01:80:c2:00:00:00'), 0).drop).toBe('link_local');
    expect(br.fdb().map((e) => e.mac)).toEqual([A]);
  });

  it('reports a frame from a port that is not on the bridge as a drop, not a crash', () => {
    const br = bridgeWith('p1');
    expect(br.forward('gone', frame(A, B), 0).drop).toBe('unknown_port');
    expect(br.forward('p1', frame(A, B), 0)).toMatchObject({ out: [], flooded: true, drop: 'no_other_port' });
  });

  it('forwards real frames built by @vnetlab/frames', () => {
    const br = bridgeWith('vif1.0', 'vif2.0');
    const f = buildUdpFrame({ srcMac: A, dstMac: B, srcIp: '10.0.0.1', dstIp: '10.0.0.2', srcPort: 1, dstPort: 2, payload: Buffer.from('x') });
    br.forward('vif2.0', frame(B, A), 0);
    expect(br.forward('vif1.0', f, 1).out).toEqual(['vif2.0']);
  });
});

describe('Bridge ageing and moves', () => {
  it('defaults to Linux\'s 300 s ageing time', () => {
    expect(new Bridge().ageingNs).toBe(DEFAULT_AGEING_NS);
    expect(DEFAULT_AGEING_NS).toBe(300e9);
  });

  it('forgets a MAC not seen for the ageing time and floods to it again', () => {
    const br = new Bridge({ ageingNs: 1_000 });
    br.addPort('p1'); br.addPort('p2'); br.addPort('p3');
    br.forward('p2', frame(B, A), 0);
    expect(br.forward('p1', frame(A, B), 999).flooded).toBe(false);
    const late = br.forward('p3', frame(C, B), 1_000);
    expect(late).toMatchObject({ out: ['p1', 'p2'], flooded: true });
    expect(br.stats().aged).toBeGreaterThanOrEqual(1);
    expect(br.fdb().some((e) => e.mac === B)).toBe(false);
  });

  it('seeing a MAC again refreshes its entry so it does not age out', () => {
    const br = new Bridge({ ageingNs: 1_000 });
    br.addPort('p1'); br.addPort('p2');
    br.forward('p2', frame(B, A), 0);
    br.forward('p2', frame(B, A), 800);
    expect(br.forward('p1', frame(A, B), 1_500)).toMatchObject({ out: ['p2'], flooded: false });
  });

  it('age(tNs) sweeps expired entries and fdb(tNs) hides them', () => {
    const br = new Bridge({ ageingNs: 100 });
    br.addPort('p1'); br.addPort('p2');
    br.forward('p1', frame(A, B), 0);
    br.forward('p2', frame(B, A), 50);
    expect(br.fdb(120).map((e) => e.mac)).toEqual([B]);
    expect(br.age(120)).toBe(1);
    expect(br.fdb().map((e) => e.mac)).toEqual([B]);
  });

  it('moves a MAC to the port it is now seen on (a migrated guest)', () => {
    const br = bridgeWith('vif1.0', 'vif2.0', 'eth0');
    br.forward('vif1.0', frame(A, BROADCAST_MAC), 0);
    const moved = br.forward('eth0', frame(A, BROADCAST_MAC), 10);
    expect(moved.learned).toBe(true);
    expect(br.fdb()).toEqual([{ mac: A, port: 'eth0', lastSeenNs: 10 }]);
    expect(br.forward('vif2.0', frame(B, A), 20).out).toEqual(['eth0']);
    expect(br.stats().moved).toBe(1);
  });

  it('an out-of-order older timestamp does not move lastSeen backwards', () => {
    const br = bridgeWith('p1', 'p2');
    br.forward('p1', frame(A, B), 500);
    br.forward('p1', frame(A, B), 100);
    expect(br.fdb()[0]!.lastSeenNs).toBe(500);
  });
});

describe('Bridge ports, limits and stats', () => {
  it('removing a port forgets the MACs learned on it', () => {
    const br = bridgeWith('p1', 'p2', 'p3');
    br.forward('p1', frame(A, B), 0);
    br.forward('p2', frame(B, A), 0);
    br.removePort('p1');
    expect(br.ports()).toEqual(['p2', 'p3']);
    expect(br.fdb().map((e) => e.port)).toEqual(['p2']);
    expect(br.forward('p2', frame(B, A), 1).out).toEqual(['p3']);
  });

  it('rejects duplicate and unknown ports and bad options with BridgeError', () => {
    const br = bridgeWith('p1');
    expect(() => br.addPort('p1')).toThrow(BridgeError);
    expect(() => br.removePort('nope')).toThrow(/unknown_port/);
    expect(() => new Bridge({ ageingNs: 0 })).toThrow(/bad_option/);
  });

  it('stops learning when the table is full but still forwards', () => {
    const br = new Bridge({ maxEntries: 2 });
    br.addPort('p1'); br.addPort('p2');
    br.forward('p1', frame(A, BROADCAST_MAC), 0);
    br.forward('p1', frame(B, BROADCAST_MAC), 0);
    const r = br.forward('p1', frame(C, BROADCAST_MAC), 0);
    expect(r).toMatchObject({ out: ['p2'], learned: false });
    expect(br.stats()).toMatchObject({ fdbEntries: 2, fdbFull: 1 });
  });

  it('counts frames in and out per port, and every frame is forwarded or dropped with a reason', () => {
    const br = bridgeWith('p1', 'p2', 'p3');
    br.forward('p1', frame(A, B), 0);          // flood to 2 ports
    br.forward('p2', frame(B, A), 0);          // unicast
    br.forward('p1', Buffer.alloc(3), 0);      // malformed
    const s = br.stats();
    expect(s.frames).toBe(s.unicast + s.flooded + s.dropped);
    expect(s.ports.p1).toEqual({ rxFrames: 2, rxBytes: 63, txFrames: 1, txBytes: 60 });
    expect(s.ports.p3!.txFrames).toBe(1);
  });
});
