import type { Ip } from '@vnetlab/frames';

/** Everything one call into the stack wants sent (whole Ethernet frames) and wants told. */
export interface StackOutput { frames: Buffer[]; events: StackEvent[] }

export type StackEvent =
  | { kind: 'echo-reply'; from: Ip; seq: number; rttNs: number; tNs: number }
  | { kind: 'udp'; from: Ip; srcPort: number; dstPort: number; payload: Buffer; tNs: number }
  | { kind: 'tcp-data'; flow: string; bytes: number; tNs: number }      // bytes newly delivered in order
  | { kind: 'tcp-done'; flow: string; bytes: number; tNs: number }      // receiver got FIN; bytes = total delivered
  | { kind: 'tcp-sent-all'; flow: string; bytes: number; tNs: number }  // sender: last data byte acked
  | { kind: 'tcp-failed'; flow: string; reason: 'reset' | 'timeout'; tNs: number }
  | { kind: 'tcp-rtt'; flow: string; rttNs: number; tNs: number }       // sender: a round-trip sample (Karn: never of a retransmitted segment)
  | { kind: 'drop'; reason: string };

export function emptyOutput(): StackOutput {
  return { frames: [], events: [] };
}
