// Two stacks wired back to back by a modelled cable: each direction is a FIFO link with a
// rate and a latency, so tNs advances the way it would on a wire. The harness plays the
// owner of both stacks: it delivers frames, fires timers and pulls bulk frames.
import type { NetStack } from './net_stack.js';
import type { StackEvent, StackOutput } from './stack_output.js';

export type Side = 'a' | 'b';

export interface WireOptions {
  latencyNs?: number;        // one way
  bitsPerNs?: number;        // 1 = 1 Gb/s
  dropEvery?: number;        // drop every Nth frame put on the wire (both directions counted)
  mangle?: (frame: Buffer, from: Side, index: number) => Buffer | undefined; // undefined = lose it
  pullBatch?: number;        // frames the owner pulls per call (its TX ring space)
}

interface InFlight { at: number; to: Side; frame: Buffer; order: number }

export class BackToBack {
  now = 0;
  readonly events: Record<Side, Array<StackEvent & { atNs: number }>> = { a: [], b: [] };
  readonly delivered: Record<Side, Array<{ atNs: number; frame: Buffer }>> = { a: [], b: [] };
  wireFrames = 0;
  lostFrames = 0;
  blackhole = false;        // while true every frame is lost
  private readonly q: InFlight[] = [];
  private readonly busyUntil: Record<Side, number> = { a: 0, b: 0 };
  private order = 0;
  private readonly latencyNs: number;
  private readonly bitsPerNs: number;
  private readonly pullBatch: number;

  constructor(readonly a: NetStack, readonly b: NetStack, private readonly opts: WireOptions = {}) {
    this.latencyNs = opts.latencyNs ?? 10_000;
    this.bitsPerNs = opts.bitsPerNs ?? 1;
    this.pullBatch = opts.pullBatch ?? 16;
  }

  stack(s: Side): NetStack { return s === 'a' ? this.a : this.b; }

  /** Takes what a stack emitted at `this.now`: frames onto the wire, events into the log. */
  put(from: Side, out: StackOutput): void {
    for (const e of out.events) this.events[from].push({ ...e, atNs: this.now });
    for (const f of out.frames) this.transmit(from, f);
  }

  /** Runs until nothing is in flight and no timer is due before `untilNs`. */
  run(untilNs = Number.POSITIVE_INFINITY): void {
    for (let steps = 0; ; steps++) {
      if (steps > 1_000_000) throw new Error('back-to-back harness did not settle');
      this.pump('a');
      this.pump('b');
      const next = this.nextEventNs();
      if (next === undefined || next > untilNs) break;
      this.now = Math.max(this.now, next);
      while (this.q.length > 0 && this.q[0]!.at <= this.now) {
        const f = this.q.shift()!;
        this.delivered[f.to].push({ atNs: this.now, frame: f.frame });
        this.put(f.to, this.stack(f.to).receive(f.frame, this.now));
      }
      for (const s of ['a', 'b'] as const) {
        const t = this.stack(s).nextTimerNs();
        if (t !== undefined && t <= this.now) this.put(s, this.stack(s).fireTimers(this.now));
      }
    }
    if (untilNs !== Number.POSITIVE_INFINITY) this.now = Math.max(this.now, untilNs);
  }

  eventsOf<K extends StackEvent['kind']>(s: Side, kind: K): Array<Extract<StackEvent, { kind: K }> & { atNs: number }> {
    return this.events[s].filter((e) => e.kind === kind) as Array<Extract<StackEvent, { kind: K }> & { atNs: number }>;
  }

  private pump(s: Side): void {
    const st = this.stack(s);
    for (let i = 0; i < 10_000 && st.canSend(); i++) this.put(s, st.pullFrames(this.now, this.pullBatch));
  }

  private nextEventNs(): number | undefined {
    let next = this.q[0]?.at;
    for (const s of ['a', 'b'] as const) {
      const t = this.stack(s).nextTimerNs();
      if (t !== undefined && (next === undefined || t < next)) next = t;
    }
    return next;
  }

  private transmit(from: Side, frame: Buffer): void {
    const index = ++this.wireFrames;
    // The frame occupies the link even if it is lost later on the way.
    const start = Math.max(this.now, this.busyUntil[from]);
    const end = start + (frame.length * 8) / this.bitsPerNs;
    this.busyUntil[from] = end;
    let f: Buffer | undefined = frame;
    if (this.blackhole || (this.opts.dropEvery !== undefined && index % this.opts.dropEvery === 0)) f = undefined;
    else if (this.opts.mangle) f = this.opts.mangle(frame, from, index);
    if (!f) { this.lostFrames++; return; }
    const item: InFlight = { at: end + this.latencyNs, to: from === 'a' ? 'b' : 'a', frame: f, order: this.order++ };
    let i = this.q.length;
    while (i > 0 && (this.q[i - 1]!.at > item.at)) i--;
    this.q.splice(i, 0, item);
  }
}
