// A service's side of captures and traces. It watches the taps bucket (one key per active
// session) and, only while a session names something the service sees, copies frames onto
// `capture.<session>` or reports a traced frame's steps on `trace.<session>`. With no
// session active every check is one map lookup, so an idle lab pays nothing.
import { compileMark, type MarkMatch } from '@vnetlab/frames';
import { inspect, parseTap, subjects, TAPS_BUCKET, type CaptureTap, type TraceTap } from '@vnetlab/proto';
import { KvStore } from './kv_store.js';
import type { Service } from './service.js';

export interface ActiveTrace extends TraceTap { match: (frame: Buffer) => MarkMatch | undefined }

/**
 * What a service whose points come and go (a driver domain's switch ports) says about a
 * point: undefined when it is not this service's; `{ serve }` with the point's canonical name
 * (e.g. a guest's name resolved to its vif); `{ unknown }` with the points it does have when
 * the point would be this service's but does not exist, so that the capture fails with them.
 */
export type PointAnswer = { serve: string } | { unknown: string[] } | undefined;
export type PointResolver = (point: string) => PointAnswer | Promise<PointAnswer>;

/** The capture points a service serves, e.g. { guest: ['vm-a1'] } or { nic: ['host-a/eth0'] }, or a resolver. */
export type CapturePoints = Partial<Record<CaptureTap['pointKind'], string[] | PointResolver>>;

/** CapturedFrame.direction of a service's refusal: `data` lists the valid points, comma-separated. */
export const UNKNOWN_POINT = 'unknown_point';

export type HopFields = Omit<Partial<inspect.TraceHop>, 'session' | 'service' | 'host' | 'seq'> & { step: string; component: string; tNs: number };

export class Taps {
  private readonly captureSessions = new Map<string, CaptureTap>();
  private readonly traceSessions = new Map<string, ActiveTrace>();
  /** Capture sessions whose point a resolver is still looking up. */
  private readonly pending = new Set<string>();
  private seq = 0;
  private stopWatch: (() => void) | undefined;

  constructor(
    private readonly svc: Service,
    private readonly points: CapturePoints = {},
    /** Answers trace sessions (data-path services: guests, driver domains, NICs, the fabric). */
    private readonly traces = true,
  ) {}

  /** Starts watching the taps bucket. */
  async start(): Promise<this> {
    const store = new KvStore(await this.svc.kv(TAPS_BUCKET));
    this.stopWatch = await store.watch('>', (e) => this.onChange(e.path, e.value));
    this.svc.onShutdown(() => this.stopWatch?.());
    return this;
  }

  private onChange(key: string, value: string | undefined): void {
    const [kind, session] = key.split('.');
    if (!session) return;
    if (value === undefined) {
      this.pending.delete(session);
      this.captureSessions.delete(session);
      this.traceSessions.delete(session);
      return;
    }
    const tap = parseTap(value);
    if (!tap || tap.session !== session || tap.kind !== kind) {
      this.svc.metrics.badMessage('bad_tap', { key });
      return;
    }
    if (tap.kind === 'capture') {
      const served = this.points[tap.pointKind] ?? [];
      if (Array.isArray(served)) {
        if (served.includes(tap.point)) this.arm(tap, tap.point);
        return;
      }
      this.pending.add(session);
      void Promise.resolve()
        .then(() => served(tap.point))
        .then((a) => {
          // the session may have ended while the point was being looked up
          if (!a || !this.pending.delete(session)) return;
          if ('serve' in a) this.arm(tap, a.serve);
          else this.svc.publish(subjects.capture(session), inspect.CapturedFrame.encode({ session, point: tap.point, direction: UNKNOWN_POINT, data: Buffer.from(a.unknown.join(', ')), tNs: 0, service: this.svc.name }).finish());
        })
        .catch((e: unknown) => this.svc.log.warn('capture point lookup failed', { point: tap.point, error: e }))
        .finally(() => this.pending.delete(session));
      return;
    }
    if (!this.traces) return;
    try {
      this.traceSessions.set(session, { ...tap, match: compileMark({ src: tap.src, dst: tap.dst, protocol: tap.protocol, ipId: tap.ipId }) });
      this.hop(this.traceSessions.get(session)!, { component: this.svc.kind, step: 'armed', tNs: 0, detail: 'watching for the probe' });
    } catch (e) {
      this.svc.metrics.badMessage('bad_tap', { key, error: e });
    }
  }

  /** Captures `point` (its canonical name) for `tap`'s session and tells the controller. */
  private arm(tap: CaptureTap, point: string): void {
    const session = tap.session;
    this.captureSessions.set(session, { ...tap, point });
    // tell the controller this point is being captured from now on
    this.svc.publish(subjects.capture(session), inspect.CapturedFrame.encode({ session, point, direction: 'armed', data: Buffer.alloc(0), tNs: 0, service: this.svc.name }).finish());
  }

  /** True while some capture session names a point of this service. */
  get capturing(): boolean {
    return this.captureSessions.size > 0;
  }

  /** True while a trace session is active. */
  get tracing(): boolean {
    return this.traceSessions.size > 0;
  }

  /** Copies a frame seen at `point` to every capture of that point. */
  capture(pointKind: CaptureTap['pointKind'], point: string, direction: 'tx' | 'rx', data: Buffer, tNs: number): void {
    if (this.captureSessions.size === 0) return;
    for (const c of this.captureSessions.values()) {
      if (c.pointKind !== pointKind || c.point !== point) continue;
      this.svc.publish(subjects.capture(c.session), inspect.CapturedFrame.encode({ session: c.session, point, direction, data, tNs, service: this.svc.name }).finish());
    }
  }

  /** The trace sessions whose probe this frame is (usually none). */
  traced(frame: Buffer): Array<{ tap: ActiveTrace; match: MarkMatch }> {
    if (this.traceSessions.size === 0) return [];
    const out: Array<{ tap: ActiveTrace; match: MarkMatch }> = [];
    for (const tap of this.traceSessions.values()) {
      const match = tap.match(frame);
      if (match) out.push({ tap, match });
    }
    return out;
  }

  /** Reports one step of a traced frame. */
  hop(tap: TraceTap, h: HopFields): void {
    const hop: inspect.TraceHop = {
      // the fabric belongs to no host
      session: tap.session, service: this.svc.name, host: this.svc.kind === 'fabric' ? '' : this.svc.host, component: h.component, step: h.step,
      detail: h.detail ?? '', tNs: h.tNs, startNs: h.startNs ?? 0, charges: h.charges ?? [], flow: h.flow ?? '', seq: this.seq++, frame: h.frame ?? '',
    };
    this.svc.publish(subjects.trace(tap.session), inspect.TraceHop.encode(hop).finish());
  }
}
