// What every chaos test asserts after the event: each flow's frames are delivered, dropped
// with a reason the lab names, or (at most `inFlight` of them) reported in flight.
import { expect } from 'vitest';

export interface Flow { flow: string; sentFrames: number; deliveredFrames: number; inFlight: number; drops: Record<string, number> }
export interface BulkJson { bytesSent?: number; bytesDelivered: number; flows: Flow[] }

export function conserved(flows: Flow[], opts: { inFlight?: number; reasons?: ReadonlySet<string> } = {}): void {
  for (const f of flows) {
    const dropped = Object.values(f.drops).reduce((a, b) => a + b, 0);
    expect(f.sentFrames, f.flow).toBe(f.deliveredFrames + dropped + f.inFlight);
    expect(f.inFlight, f.flow).toBeLessThanOrEqual(opts.inFlight ?? 0);
    if (opts.reasons) for (const reason of Object.keys(f.drops)) expect(opts.reasons, `${f.flow}: ${reason}`).toContain(reason);
  }
}
