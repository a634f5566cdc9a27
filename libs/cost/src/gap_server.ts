import { checkNonNegative } from './primitive.js';

/**
 * A work-conserving server in modelled time that accepts work out of order. Services see
 * signals in wall-clock order, which is not their modelled order: a FIFO's busyUntil would
 * make an early signal that arrives late wait behind later work. Here a job that arrives
 * at `arrivalNs` runs in the idle gaps from then on (preempt-resume), so the timeline is
 * the same whatever order the jobs were handed in, as long as they fit the gaps.
 */
export class GapServer {
  /** Disjoint busy intervals, sorted by start. */
  private readonly busy: Array<{ s: number; e: number }> = [];
  /** Everything before this is treated as busy: history forgotten to bound memory. */
  private floor = 0;

  constructor(private readonly maxIntervals = 4096) {}

  get busyUntil(): number {
    return this.busy.length ? this.busy[this.busy.length - 1]!.e : this.floor;
  }

  /** Runs `costNs` of work from `arrivalNs` on; returns the pieces' first start and last end. */
  serve(arrivalNs: number, costNs: number): { start: number; end: number; pieces: Array<{ s: number; e: number }> } {
    checkNonNegative(arrivalNs, 'bad_time', 'arrivalNs');
    checkNonNegative(costNs, 'bad_time', 'costNs');
    let t = Math.max(arrivalNs, this.floor);
    if (costNs === 0) return { start: t, end: t, pieces: [] };
    let i = this.firstEndingAfter(t);
    let remaining = costNs;
    const pieces: Array<{ s: number; e: number }> = [];
    while (remaining > 0) {
      const next = this.busy[i];
      if (!next || next.s >= t + remaining) {
        pieces.push({ s: t, e: t + remaining });
        remaining = 0;
        break;
      }
      if (next.s > t) {
        pieces.push({ s: t, e: next.s });
        remaining -= next.s - t;
      }
      t = Math.max(t, next.e);
      i++;
    }
    for (const p of pieces) this.insert(p);
    this.prune();
    return { start: pieces[0]!.s, end: pieces[pieces.length - 1]!.e, pieces };
  }

  private firstEndingAfter(t: number): number {
    let lo = 0;
    let hi = this.busy.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.busy[mid]!.e <= t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private insert(p: { s: number; e: number }): void {
    const i = this.firstEndingAfter(p.s);
    // merge with the neighbours it touches
    const prev = this.busy[i - 1];
    const next = this.busy[i];
    if (prev && prev.e === p.s) {
      prev.e = p.e;
      if (next && next.s === p.e) {
        prev.e = next.e;
        this.busy.splice(i, 1);
      }
      return;
    }
    if (next && next.s === p.e) {
      next.s = p.s;
      return;
    }
    this.busy.splice(i, 0, { s: p.s, e: p.e });
  }

  private prune(): void {
    if (this.busy.length <= this.maxIntervals) return;
    const drop = this.busy.length - this.maxIntervals / 2;
    this.floor = this.busy[drop - 1]!.e;
    this.busy.splice(0, drop);
  }
}
