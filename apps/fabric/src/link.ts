// One direction of a link: a FIFO server at the link's rate in modelled time, a propagation
// latency, and a loss process that is reproducible from its seed.
import { FifoServer } from '@vnetlab/cost';

/** Preamble, SFD, inter-frame gap and FCS: on the wire, not in the frame bytes. */
const WIRE_OVERHEAD = 24;

/**
 * The murmur3 finaliser: small consecutive seeds (1, 2, 64·n + i) become unrelated states.
 * xorshift32 started from a small state gives tiny first outputs, so every lossy link would
 * lose its first frame.
 */
function scramble(seed: number): number {
  let h = seed >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export class LinkDirection {
  private readonly fifo = new FifoServer();
  private state: number;

  constructor(
    readonly name: string,
    readonly to: string,
    readonly rateBps: number,
    readonly latencyNs: number,
    public loss: number,
    seed: number,
  ) {
    this.state = scramble(seed) || 1;
  }

  /** xorshift32: a tiny deterministic generator, so a run's losses repeat with its seed. */
  private random(): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state / 0x100000000;
  }

  carry(bytes: number, tNs: number): { lost: boolean; arriveNs: number } {
    const wireNs = ((Math.max(bytes, 60) + WIRE_OVERHEAD) * 8 * 1e9) / this.rateBps;
    // the frame started onto this link when its first bit left the NIC
    const { end } = this.fifo.serve(Math.max(0, tNs - wireNs), wireNs);
    if (this.loss > 0 && this.random() < this.loss) return { lost: true, arriveNs: end };
    return { lost: false, arriveNs: end + this.latencyNs };
  }
}
