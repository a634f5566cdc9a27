// The driver domain as an endpoint of the traffic: an address of its own on its bridge (Linux's
// xenbr0 holding dom0's address), where its kernel's stack answers ARP and ping and an
// application receives bulk transfers. Menon et al. 2006 (seed 003) measured this path — the
// NIC's frames received by dom0 itself, no netback, no guest — against native Linux. The logic
// only: the driver domain hands it the frames its switch sends to the local port and sends
// what it answers back through the switch.
import type { Cpu } from '@vnetlab/cost';
import { flowKey, type FlowCounters } from '@vnetlab/flows';
import { NetStack, type StackOutput } from '@vnetlab/netstack';

/** The bridge port of the domain's own interface. */
export const LOCAL_PORT = 'dom0';

export interface Dom0EndpointOptions {
  mac: string;
  ip: string;
  /** The sink port the lab's bulk transfers aim at (UDP bound, TCP listening). */
  sinkPort: number;
  cpu: Cpu;
  domain: string;
  flows: FlowCounters;
}

export class Dom0Endpoint {
  readonly stack: NetStack;
  readonly counters = { framesIn: 0, framesOut: 0, notForUs: 0 };
  private readonly macBytes: Buffer;

  constructor(private readonly o: Dom0EndpointOptions) {
    this.stack = new NetStack({ mac: o.mac, ip: o.ip });
    this.stack.bindUdp(o.sinkPort);
    this.stack.listenTcp(o.sinkPort);
    this.macBytes = Buffer.from(o.mac.split(':').map((h) => parseInt(h, 16)));
  }

  get mac(): string {
    return this.o.mac;
  }

  /**
   * Frames the bridge delivered to the local port, from modelled time tNs: each costs
   * stack_rx on dom0's CPU (the NIC driver's work was charged when it took them from the
   * ring); returns what the stack sends in answer (ACKs, ARP and echo replies), each after
   * its stack_tx, and the time the last one is ready.
   */
  receive(frames: Array<{ bytes: Buffer; tNs: number }>, tNs: number): { frames: Array<{ bytes: Buffer; tNs: number }>; tNs: number } {
    let t = tNs;
    const out: Buffer[] = [];
    for (const f of frames) {
      t = this.o.cpu.run(Math.max(t, f.tNs), this.o.domain, [['stack_rx', 1]]);
      if (!this.forUs(f.bytes)) {
        // a flooded copy of a frame for someone else: the bridge floods until it learns
        this.counters.notForUs++;
        this.o.flows.dropped(flowKey(f.bytes), 'not_for_us');
        continue;
      }
      this.counters.framesIn++;
      this.o.flows.delivered(flowKey(f.bytes), f.bytes.length, t);
      this.collect(this.stack.receive(f.bytes, t), out);
    }
    return this.send(out, t);
  }

  /** The stack's timers due by tNs (a delayed ACK, an ARP retry): what they send. */
  fireTimers(tNs: number): { frames: Array<{ bytes: Buffer; tNs: number }>; tNs: number } {
    const out: Buffer[] = [];
    this.collect(this.stack.fireTimers(tNs), out);
    return this.send(out, tNs);
  }

  private send(out: Buffer[], tNs: number): { frames: Array<{ bytes: Buffer; tNs: number }>; tNs: number } {
    let t = tNs;
    const frames = out.map((bytes) => {
      t = this.o.cpu.run(t, this.o.domain, [['stack_tx', 1]]);
      this.counters.framesOut++;
      this.o.flows.sent(flowKey(bytes), bytes.length, t);
      return { bytes, tNs: t };
    });
    return { frames, tNs: t };
  }

  private collect(r: StackOutput, out: Buffer[]): void {
    out.push(...r.frames);
    for (const e of r.events) if (e.kind === 'drop') this.o.flows.dropped('stack', e.reason);
  }

  private forUs(frame: Buffer): boolean {
    if (frame.length < 6) return false;
    return (frame[0]! & 1) === 1 || frame.subarray(0, 6).equals(this.macBytes);
  }
}
