// The steps a frame took through the switch, each with the primitive it costs, so that a
// caller can charge them and a user can read why a frame went where it went (the way
// `ovs-appctl ofproto/trace` explains a packet).
import type { Ip } from '@vnetlab/frames';
import type { DropReason } from './port.js';

/** The cost-table primitives the switch's own work maps to (libs/cost names). */
export type VswitchPrimitive = 'flow_lookup' | 'vxlan_encap';

export type TraceStepKind =
  | 'rx'            // frame received on a port
  | 'tunnel_rx'     // an uplink frame that is VXLAN to a local VTEP, handed to the tunnel port
  | 'decap'         // outer headers checked and stripped
  | 'cache_hit'     // fast path: the exact-match cache knew this frame's headers
  | 'cache_miss'    // slow path follows
  | 'table_lookup'  // classifier lookup in the flow table
  | 'mac_learn'
  | 'mac_lookup'
  | 'flood'         // a flood decision: local ports and remote VTEPs (head-end replication)
  | 'set_tunnel'
  | 'encap'
  | 'output'
  | 'mirror'
  | 'drop';

export interface TraceStep {
  step: TraceStepKind;
  detail: string;
  primitive?: VswitchPrimitive;
  count?: number;      // how many of `primitive` (1 if absent and primitive set)
  port?: string;
  vni?: number;
  remoteIp?: Ip;
  flow?: string;       // the matching flow, in ovs-ofctl text
  reason?: DropReason;
}

/** Primitive counts of a trace: what the caller charges for this frame. */
export function traceCost(trace: readonly TraceStep[]): Partial<Record<VswitchPrimitive, number>> {
  const out: Partial<Record<VswitchPrimitive, number>> = {};
  for (const s of trace) if (s.primitive) out[s.primitive] = (out[s.primitive] ?? 0) + (s.count ?? 1);
  return out;
}

/** One line per step, for a terminal. */
export function formatTrace(trace: readonly TraceStep[]): string[] {
  return trace.map((s, i) => {
    const cost = s.primitive ? `  [${s.primitive} x${s.count ?? 1}]` : '';
    return `${String(i + 1).padStart(2)}. ${s.step.padEnd(12)} ${s.detail}${cost}`;
  });
}
