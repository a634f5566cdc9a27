import type { Ip, Mac } from '@vnetlab/frames';

export interface ArpTableOptions {
  queueLimit: number;  // IPv4 packets held per unresolved address (Linux: unres_qlen)
  retryNs: number;     // between ARP requests for one address (Linux: retrans_time_ms = 1 s)
  maxTries: number;    // requests before the queued packets are dropped (Linux: mcast_solicit = 3)
}

interface Pending { packets: Buffer[]; tries: number; nextRetryNs: number }

export type EnqueueResult = 'request' | 'queued' | 'full';

/**
 * The neighbour cache: IP → MAC, plus IPv4 packets (whole, headers and checksum done)
 * waiting for an address to resolve. Entries do not age: a peer that moves announces
 * itself with a gratuitous ARP, which overwrites its entry.
 */
export class ArpTable {
  private readonly cache = new Map<Ip, Mac>();
  private readonly pending = new Map<Ip, Pending>();

  constructor(private readonly opts: ArpTableOptions) {}

  lookup(ip: Ip): Mac | undefined { return this.cache.get(ip); }
  has(ip: Ip): boolean { return this.cache.has(ip); }
  isResolving(ip: Ip): boolean { return this.pending.has(ip); }

  /** Records ip → mac and hands back the packets that were waiting for it, in order. */
  learn(ip: Ip, mac: Mac): Buffer[] {
    this.cache.set(ip, mac);
    const p = this.pending.get(ip);
    if (!p) return [];
    this.pending.delete(ip);
    return p.packets;
  }

  /**
   * Holds a packet for an unresolved address. 'request' means this is the first one and an
   * ARP request must go out now; 'full' means the queue is at its limit and it was not held.
   */
  enqueue(ip: Ip, packet: Buffer, tNs: number): EnqueueResult {
    const p = this.pending.get(ip);
    if (!p) {
      this.pending.set(ip, { packets: [packet], tries: 1, nextRetryNs: tNs + this.opts.retryNs });
      return 'request';
    }
    if (p.packets.length >= this.opts.queueLimit) return 'full';
    p.packets.push(packet);
    return 'queued';
  }

  nextDeadline(): number | undefined {
    let next: number | undefined;
    for (const p of this.pending.values()) if (next === undefined || p.nextRetryNs < next) next = p.nextRetryNs;
    return next;
  }

  /** Addresses due for another request, and those given up on with the packets they held. */
  expire(tNs: number): { retry: Ip[]; failed: Array<{ ip: Ip; dropped: number }> } {
    const retry: Ip[] = [], failed: Array<{ ip: Ip; dropped: number }> = [];
    for (const [ip, p] of this.pending) {
      if (p.nextRetryNs > tNs) continue;
      if (p.tries >= this.opts.maxTries) {
        this.pending.delete(ip);
        failed.push({ ip, dropped: p.packets.length });
      } else {
        p.tries++;
        p.nextRetryNs = tNs + this.opts.retryNs;
        retry.push(ip);
      }
    }
    return { retry, failed };
  }

  entries(): Array<{ ip: Ip; mac: Mac }> {
    return [...this.cache].map(([ip, mac]) => ({ ip, mac }));
  }

  queuedPackets(): number {
    let n = 0;
    for (const p of this.pending.values()) n += p.packets.length;
    return n;
  }
}
