// What every chaos test asserts after the event: each flow's frames are delivered, dropped
// with a reason the lab names, or (at most `inFlight` of them) reported in flight.
import { expect } from 'vitest';

export interface Flow { flow: string; sentFrames: number; deliveredFrames: number; inFlight: number; drops: Record<string, number>; lostWith?: string[] }
export interface BulkJson { bytesSent?: number; bytesDelivered: number; flows: Flow[] }

/**
 * `lostWith`: a service killed during the flows; a flow the report says lost frames with it may
 * have up to `max` frames in flight (what the dead process held in its queues), never fewer than 0.
 */
export function conserved(flows: Flow[], opts: { inFlight?: number; reasons?: ReadonlySet<string>; lostWith?: { service: string; max: number } } = {}): void {
  for (const f of flows) {
    const dropped = Object.values(f.drops).reduce((a, b) => a + b, 0);
    const detail = `sent ${f.sentFrames}, delivered ${f.deliveredFrames}, dropped ${JSON.stringify(f.drops)}`;
    expect(f.sentFrames, f.flow).toBe(f.deliveredFrames + dropped + f.inFlight);
    expect(f.inFlight, `${f.flow} (${detail}): in flight below zero means a frame counted twice`).toBeGreaterThanOrEqual(0);
    const named = opts.lostWith && (f.lostWith ?? []).some((s) => s.startsWith(`${opts.lostWith!.service} `));
    expect(f.inFlight, `${f.flow} (${detail}; lost with: ${(f.lostWith ?? []).join(', ') || 'none named'})`).toBeLessThanOrEqual(named ? opts.lostWith!.max : (opts.inFlight ?? 0));
    if (opts.reasons) for (const reason of Object.keys(f.drops)) expect(opts.reasons, `${f.flow}: ${reason}`).toContain(reason);
  }
}
