// A guest's MAC pinned on its vif stays there. Found by the lab fuzzer: one frame from the wire
// with a local guest's source MAC moved the guest's entry to the uplink, and every unicast frame
// for the guest from the other guests went back out of the NIC until the guest sent again.
import { describe, expect, it } from 'vitest';
import { encodeEthernet, BROADCAST_MAC } from '@vnetlab/frames';
import { Bridge, BridgeError, DEFAULT_AGEING_NS } from './index.js';

const GUEST = '00:16:3e:00:0b:00', PEER = '00:16:3e:00:0a:01';
const frame = (src: string, dst: string) => encodeEthernet({ src, dst, ethertype: 0x0800, payload: Buffer.alloc(46) });

function bridge() {
  const br = new Bridge();
  for (const p of ['vif1.0', 'vif2.0', 'eth0']) br.addPort(p);
  br.addStaticEntry(GUEST, 'vif1.0');
  return br;
}

describe('sticky FDB entries (a guest\'s own MAC on its vif)', () => {
  it('a frame from the uplink claiming the guest\'s MAC does not move it, and is still forwarded', () => {
    const br = bridge();
    const spoof = br.forward('eth0', frame(GUEST, BROADCAST_MAC), 1000);
    expect(spoof.out).toEqual(['vif1.0', 'vif2.0']);
    expect(spoof.learned).toBe(false);
    // unicast for the guest still goes to its vif
    expect(br.forward('vif2.0', frame(PEER, GUEST), 2000).out).toEqual(['vif1.0']);
    expect(br.stats().pinned).toBe(1);
    expect(br.stats().moved).toBe(0);
  });

  it('never ages, shows as sticky, and goes away with its port', () => {
    const br = bridge();
    expect(br.forward('vif2.0', frame(PEER, GUEST), 10 * DEFAULT_AGEING_NS).out).toEqual(['vif1.0']);
    expect(br.fdb(10 * DEFAULT_AGEING_NS).find((e) => e.mac === GUEST)).toMatchObject({ port: 'vif1.0', sticky: true });
    br.removePort('vif1.0');
    // the MAC may now be learned elsewhere (a guest migrated away)
    br.forward('eth0', frame(GUEST, BROADCAST_MAC), 11 * DEFAULT_AGEING_NS);
    expect(br.fdb().find((e) => e.mac === GUEST)).toMatchObject({ port: 'eth0' });
  });

  it('other MACs still learn and move as before', () => {
    const br = bridge();
    br.forward('vif2.0', frame(PEER, BROADCAST_MAC), 0);
    br.forward('eth0', frame(PEER, BROADCAST_MAC), 10);
    expect(br.fdb().find((e) => e.mac === PEER)?.port).toBe('eth0');
    expect(br.stats().moved).toBe(1);
  });

  it('refuses a port that is not on the bridge and a MAC that is not unicast', () => {
    const br = bridge();
    expect(() => br.addStaticEntry(GUEST, 'vif9.0')).toThrow(BridgeError);
    expect(() => br.addStaticEntry(BROADCAST_MAC, 'vif2.0')).toThrow(BridgeError);
    expect(() => br.addStaticEntry('00:00:00:00:00:00', 'vif2.0')).toThrow(BridgeError);
  });
});

describe('sticky entries and the host\'s protection', () => {
  it('switched off they move like learned entries; switched back on, each is where it was set', () => {
    const br = bridge();
    br.stickyEntries = false;
    br.forward('vif2.0', frame(GUEST, BROADCAST_MAC), 10); // a guest spoofing the MAC, unfiltered
    expect(br.forward('eth0', frame(PEER, GUEST), 20).out).toEqual(['vif2.0']);
    br.stickyEntries = true;
    expect(br.forward('eth0', frame(PEER, GUEST), 30).out).toEqual(['vif1.0']);
    br.forward('vif2.0', frame(GUEST, BROADCAST_MAC), 40);
    expect(br.forward('eth0', frame(PEER, GUEST), 50).out).toEqual(['vif1.0']);
  });
});
