// A link of the fabric: a cable between two NICs, or an L2 segment joining several (an
// Ethernet switch with a port per NIC). A segment learns which end each source MAC sits
// behind and forwards a unicast frame to that end only; broadcast, multicast and unknown
// unicast go to every other end (flooding), as a learning switch does. Every egress port is
// a link direction of its own: FIFO at the link's rate, the link's latency and loss.
import { LinkDirection } from './link.js';

export interface Delivery {
  to: string;            // "host/nic"
  direction: string;     // the link direction's name (metrics label)
  lost: boolean;
  arriveNs: number;
}

export interface CarryResult {
  deliveries: Delivery[];
  /** How the destination was chosen: the cable's other end, a learned end, or flooding. */
  how: 'cable' | 'learned' | 'flooded';
  /** Set when the frame went nowhere (e.g. its destination sits behind the end it came from). */
  drop?: 'same_port' | 'runt' | 'bad_time' | 'cut';
}

export class FabricLink {
  private readonly egress = new Map<string, LinkDirection>();
  private readonly macTable = new Map<string, string>();
  readonly counters = { learned: 0, flooded: 0, unicast: 0 };
  private cutOff = false;

  constructor(
    readonly name: string,
    readonly ends: readonly string[],
    readonly form: 'cable' | 'segment',
    readonly rateBps: number,
    readonly latencyNs: number,
    readonly loss: number,
    seed: number,
  ) {
    ends.forEach((end, i) => {
      // a cable keeps the direction names it always had (a->b, b->a); a segment names its ports
      const label = form === 'cable' ? `${ends[1 - i]}->${end}` : `${name}->${end}`;
      this.egress.set(end, new LinkDirection(label, end, rateBps, latencyNs, loss, seed * 64 + i));
    });
  }

  /** Cut (nothing crosses) or mended. */
  setCut(cut: boolean): void {
    this.cutOff = cut;
  }

  get cut(): boolean {
    return this.cutOff;
  }

  /** Every direction loses this fraction of frames from now on. */
  setLoss(loss: number): void {
    if (!(loss >= 0 && loss <= 1)) throw new RangeError(`loss must be in 0..1, got ${loss}`);
    for (const d of this.egress.values()) d.loss = loss;
  }

  /** The ends a frame from `from` reaches: the other end of a cable, or by destination MAC on a segment. */
  carry(from: string, frame: Uint8Array, tNs: number): CarryResult {
    if (this.cutOff) return { deliveries: [], how: this.form === 'cable' ? 'cable' : 'flooded', drop: 'cut' };
    // a frame at no modelled time (NaN, negative, past 2^53 ns) would leave the link busy
    // until then, and every frame after it would wait behind it
    if (!(Number.isFinite(tNs) && tNs >= 0 && tNs <= Number.MAX_SAFE_INTEGER)) return { deliveries: [], how: this.form === 'cable' ? 'cable' : 'flooded', drop: 'bad_time' };
    if (this.form === 'cable') {
      const to = this.ends.find((e) => e !== from)!;
      return { deliveries: [this.send(to, frame.length, tNs)], how: 'cable' };
    }
    if (frame.length < 14) return { deliveries: [], how: 'flooded', drop: 'runt' };
    const src = mac(frame, 6);
    if ((frame[6]! & 1) === 0 && this.macTable.get(src) !== from) {
      this.macTable.set(src, from);
      this.counters.learned++;
    }
    const known = (frame[0]! & 1) === 0 ? this.macTable.get(mac(frame, 0)) : undefined;
    if (known === from) return { deliveries: [], how: 'learned', drop: 'same_port' };
    if (known !== undefined) {
      this.counters.unicast++;
      return { deliveries: [this.send(known, frame.length, tNs)], how: 'learned' };
    }
    this.counters.flooded++;
    return { deliveries: this.ends.filter((e) => e !== from).map((e) => this.send(e, frame.length, tNs)), how: 'flooded' };
  }

  private send(to: string, bytes: number, tNs: number): Delivery {
    const dir = this.egress.get(to)!;
    const r = dir.carry(bytes, tNs);
    return { to, direction: dir.name, lost: r.lost, arriveNs: r.arriveNs };
  }
}

function mac(b: Uint8Array, off: number): string {
  let s = '';
  for (let i = 0; i < 6; i++) s += (i ? ':' : '') + b[off + i]!.toString(16).padStart(2, '0');
  return s;
}
