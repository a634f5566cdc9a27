// The bridge pins a vif's guest MAC on the vif, with the host's protection (found by the lab
// fuzzer: a frame from the wire claiming a local guest's MAC used to take the guest's traffic).
import { describe, expect, it } from 'vitest';
import { Bridge } from '@vnetlab/bridge';
import { encodeEthernet, BROADCAST_MAC } from '@vnetlab/frames';
import { BridgeSwitch } from './bridge_switch.js';

const GUEST = '00:16:3e:00:0b:00', PEER = '00:16:3e:00:0a:01';
const frame = (src: string, dst: string) => encodeEthernet({ src, dst, ethertype: 0x0800, payload: Buffer.alloc(46) });

describe('BridgeSwitch and a vif\'s MAC', () => {
  it('a frame from the uplink with the guest\'s source MAC leaves the guest\'s traffic on its vif, unless protection is off', () => {
    const sw = new BridgeSwitch(new Bridge());
    sw.addPort({ name: 'eth0', kind: 'uplink' });
    sw.addPort({ name: 'vif1.0', kind: 'vif', mac: GUEST });
    sw.addPort({ name: 'vif2.0', kind: 'vif', mac: PEER });
    sw.forward('eth0', frame(GUEST, BROADCAST_MAC), 10);
    expect(sw.forward('vif2.0', frame(PEER, GUEST), 20).outputs.map((o) => o.port)).toEqual(['vif1.0']);
    sw.setProtection(false);
    sw.forward('eth0', frame(GUEST, BROADCAST_MAC), 30);
    expect(sw.forward('vif2.0', frame(PEER, GUEST), 40).outputs.map((o) => o.port)).toEqual(['eth0']);
    sw.setProtection(true);
    expect(sw.forward('vif2.0', frame(PEER, GUEST), 50).outputs.map((o) => o.port)).toEqual(['vif1.0']);
  });
});
