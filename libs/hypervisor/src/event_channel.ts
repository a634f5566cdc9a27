import { EVTCHN_PORTS_PER_DOMAIN } from './constants.js';

/** The state of one port (Xen's ECS_*). */
export type EvtchnState =
  | { kind: 'free' }
  | { kind: 'unbound'; remoteDom: number }                       // offered to remoteDom
  | { kind: 'interdomain'; remoteDom: number; remotePort: number }
  | { kind: 'pirq'; irq: number };

/** One domain's event-channel port table. Port 0 is reserved, as in Xen. */
export class PortTable {
  private readonly ports: EvtchnState[] = [];

  constructor(readonly size: number = EVTCHN_PORTS_PER_DOMAIN) {}

  valid(port: unknown): port is number {
    return typeof port === 'number' && Number.isInteger(port) && port > 0 && port < this.size;
  }

  get(port: number): EvtchnState {
    return (this.valid(port) && this.ports[port]) || { kind: 'free' };
  }

  /** Lowest free port, or undefined when the table is full. */
  alloc(state: Exclude<EvtchnState, { kind: 'free' }>): number | undefined {
    for (let port = 1; port < this.size; port++) {
      const s = this.ports[port];
      if (!s || s.kind === 'free') {
        this.ports[port] = state;
        return port;
      }
    }
    return undefined;
  }

  set(port: number, state: EvtchnState): void {
    this.ports[port] = state;
  }

  /** Ports in use, ascending, with their state. */
  bound(): Array<[number, EvtchnState]> {
    const out: Array<[number, EvtchnState]> = [];
    this.ports.forEach((s, port) => {
      if (s && s.kind !== 'free') out.push([port, s]);
    });
    return out;
  }
}
