// Captures and traces are switched on through one NATS KV bucket that every service
// watches: a key per active session, removed when the session ends. A service copies
// frames onto `capture.<session>` or reports steps on `trace.<session>` only while a key
// names something it sees, so an idle lab pays nothing for them.

/** The KV bucket of active capture and trace sessions. */
export const TAPS_BUCKET = 'vnetlab-taps';

/** A capture session: copies of every frame seen at `point`. Key `capture.<session>`. */
export interface CaptureTap {
  kind: 'capture';
  session: string;
  /** What is captured: a guest's interface, a NIC, a link, or a port of a driver domain's switch. */
  pointKind: CapturePointKind;
  /** guest name, "host/nic", link name, or "host/dom0/port" (a switch port, e.g. host-a/dom0/vif1.0). */
  point: string;
}

export type CapturePointKind = 'guest' | 'nic' | 'link' | 'port';
const POINT_KINDS: readonly string[] = ['guest', 'nic', 'link', 'port'];

/**
 * A trace session: every component reports the steps of frames that carry the mark — an
 * IPv4 packet (possibly inside VXLAN) from `src` to `dst` with protocol `protocol` and
 * identification `ipId`. Key `trace.<session>`.
 */
export interface TraceTap {
  kind: 'trace';
  session: string;
  src: string;
  dst: string;
  protocol: number;
  ipId: number;
}

export type TapSpec = CaptureTap | TraceTap;

/** The KV key of a session. */
export function tapKey(t: Pick<TapSpec, 'kind' | 'session'>): string {
  return `${t.kind}.${t.session}`;
}

/** Decodes a KV value; undefined for anything that is not a well-formed tap. */
export function parseTap(value: string): TapSpec | undefined {
  let v: unknown;
  try {
    v = JSON.parse(value);
  } catch {
    return undefined;
  }
  if (!v || typeof v !== 'object') return undefined;
  const o = v as Record<string, unknown>;
  if (typeof o.session !== 'string' || !/^[A-Za-z0-9_-]+$/.test(o.session)) return undefined;
  if (o.kind === 'capture') {
    if (typeof o.pointKind === 'string' && POINT_KINDS.includes(o.pointKind) && typeof o.point === 'string') {
      return { kind: 'capture', session: o.session, pointKind: o.pointKind as CapturePointKind, point: o.point };
    }
    return undefined;
  }
  if (o.kind === 'trace') {
    const n = (x: unknown, max: number) => typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= max;
    if (typeof o.src === 'string' && typeof o.dst === 'string' && n(o.protocol, 255) && n(o.ipId, 0xffff)) {
      return { kind: 'trace', session: o.session, src: o.src, dst: o.dst, protocol: o.protocol as number, ipId: o.ipId as number };
    }
  }
  return undefined;
}
