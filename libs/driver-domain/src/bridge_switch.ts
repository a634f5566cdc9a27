// The Linux bridge as the driver domain's switch: one FDB lookup per frame ('bridge_lookup').
import type { Bridge } from '@vnetlab/bridge';
import type { DomainSwitch, SwitchDecision, SwitchPortSpec } from './domain_switch.js';

export class BridgeSwitch implements DomainSwitch {
  readonly kind = 'bridge' as const;

  constructor(readonly bridge: Bridge) {}

  addPort(p: SwitchPortSpec): void {
    // a bridge has one broadcast domain: a VNI has no meaning here (the topology refuses it)
    if (!this.bridge.ports().includes(p.name)) this.bridge.addPort(p.name);
    // the guest's own MAC stays on its vif: a frame from elsewhere claiming it cannot take its traffic
    if (p.kind === 'vif' && p.mac) this.bridge.addStaticEntry(p.mac, p.name);
  }

  removePort(name: string): void {
    this.bridge.removePort(name);
  }

  setProtection(on: boolean): void {
    this.bridge.stickyEntries = on;
  }

  forward(inPort: string, bytes: Buffer, tNs: number): SwitchDecision {
    const fwd = this.bridge.forward(inPort, bytes, tNs);
    const what = fwd.drop ? `dropped: ${fwd.drop}` : fwd.flooded ? `flooded to [${fwd.out.join(', ')}]` : `forwarded to ${fwd.out.join(', ')}`;
    return {
      outputs: fwd.drop ? [] : fwd.out.map((port) => ({ port, bytes })),
      drops: fwd.drop ? [fwd.drop] : fwd.out.length === 0 ? ['no_port'] : [],
      flooded: fwd.flooded,
      charges: [['bridge_lookup', 1]],
      steps: [{ step: 'fdb_lookup', primitive: 'bridge_lookup', count: 1, detail: `FDB lookup on ${inPort}${fwd.learned ? ' (source learned)' : ''}: ${what}` }],
    };
  }
}
