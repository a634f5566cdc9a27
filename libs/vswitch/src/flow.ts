// An OpenFlow-like flow: a match on header fields, a priority and a list of actions.
// MACs are split in two 24-bit halves so that masking stays in 32-bit integer arithmetic.
import type { FlowKey } from './flow_key.js';

/** A MAC with a mask, as two 24-bit halves; `value` is stored already masked. */
export interface MacMatch { hi: number; lo: number; maskHi: number; maskLo: number }
/** An IPv4 prefix: `addr` already masked to `prefix` bits. */
export interface IpPrefix { addr: number; prefix: number }

export interface FlowMatch {
  inPort?: string;
  dlSrc?: MacMatch;
  dlDst?: MacMatch;
  dlType?: number;
  nwSrc?: IpPrefix;
  nwDst?: IpPrefix;
  nwProto?: number;
  tpSrc?: number;
  tpDst?: number;
  tunId?: number;   // the VNI the frame belongs to; 0 = not in an overlay
}

export type FlowAction =
  | { type: 'output'; port: string }
  | { type: 'mirror'; port: string }
  | { type: 'flood' }
  | { type: 'normal' }
  | { type: 'set_tunnel'; vni: number };

/** An empty action list drops the frame, as in OpenFlow (printed "drop"). */
export interface FlowSpec { priority: number; match: FlowMatch; actions: FlowAction[] }

export const DEFAULT_PRIORITY = 32768; // ovs-ofctl's default

export function prefixMask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

function macHit(m: MacMatch, hi: number, lo: number): boolean {
  return (hi & m.maskHi) === m.hi && (lo & m.maskLo) === m.lo;
}

function ipHit(p: IpPrefix, v: number): boolean {
  return v >= 0 && ((v & prefixMask(p.prefix)) >>> 0) === p.addr;
}

export function matchesKey(m: FlowMatch, k: FlowKey): boolean {
  if (m.inPort !== undefined && m.inPort !== k.inPort) return false;
  if (m.tunId !== undefined && m.tunId !== k.tunId) return false;
  if (m.dlType !== undefined && m.dlType !== k.dlType) return false;
  if (m.dlSrc && !macHit(m.dlSrc, k.dlSrcHi, k.dlSrcLo)) return false;
  if (m.dlDst && !macHit(m.dlDst, k.dlDstHi, k.dlDstLo)) return false;
  if (m.nwSrc && !ipHit(m.nwSrc, k.nwSrc)) return false;
  if (m.nwDst && !ipHit(m.nwDst, k.nwDst)) return false;
  if (m.nwProto !== undefined && m.nwProto !== k.nwProto) return false;
  if (m.tpSrc !== undefined && m.tpSrc !== k.tpSrc) return false;
  if (m.tpDst !== undefined && m.tpDst !== k.tpDst) return false;
  return true;
}

/**
 * Which fields a match looks at, with which masks: flows sharing a mask share a subtable of
 * Open vSwitch's tuple-space-search classifier, and a lookup costs one hash probe per subtable.
 */
export function maskSignature(m: FlowMatch): string {
  return [
    m.inPort !== undefined ? 'i' : '',
    m.tunId !== undefined ? 't' : '',
    m.dlType !== undefined ? 'e' : '',
    m.dlSrc ? `s${m.dlSrc.maskHi}.${m.dlSrc.maskLo}` : '',
    m.dlDst ? `d${m.dlDst.maskHi}.${m.dlDst.maskLo}` : '',
    m.nwSrc ? `S${m.nwSrc.prefix}` : '',
    m.nwDst ? `D${m.nwDst.prefix}` : '',
    m.nwProto !== undefined ? 'p' : '',
    m.tpSrc !== undefined ? 'a' : '',
    m.tpDst !== undefined ? 'b' : '',
  ].join('|');
}
