// The toolstack's answer to a failed NIC (seed 004): once the driver domain's fault agent has
// redirected the guests' traffic through another host, the guests are live-migrated to that
// host, one after the other, and the temporary redirect is no longer needed for them. Plain
// logic: the owner feeds fault reports and gives it a way to migrate.
import type { fault, migration } from '@vnetlab/proto';
import type { Topology } from '@vnetlab/topology';

export interface EvacuationRecord {
  guest: string;
  fromHost: string;
  toHost: string;
  nic: string;
  /** Set when the migration ran to its end. */
  report?: migration.MigrationReport;
  /** Set when it could not run or failed, and why. */
  error?: string;
}

export interface EvacuationDeps {
  /** Where a guest runs now (it may have moved since the lab started). */
  hostOf(guest: string): string | undefined;
  migrate(guest: string, to: string): Promise<migration.MigrationReport>;
  /** Told when an evacuation starts and ends. */
  onRecord?(r: EvacuationRecord, phase: 'started' | 'done' | 'failed'): void;
  /**
   * How long (wall ms) the redirect must hold before the guests move (the seed's "once this
   * stable condition is established"): time for a failure of the target itself to be heard.
   */
  settleMs?: number;
}

export class Evacuation {
  readonly records: EvacuationRecord[] = [];
  private chain = Promise.resolve();
  /** NICs reported failed and not restored, as host/nic. */
  private readonly failed = new Set<string>();

  constructor(
    private readonly topo: Topology,
    private readonly deps: EvacuationDeps,
  ) {}

  /**
   * A fault report: when a NIC's traffic has been redirected to another host, its pv guests
   * still on the failed host go there. Returns when they have all been tried.
   */
  onFaultReport(r: fault.FaultReport): Promise<void> {
    if (r.phase === 'restored') this.failed.delete(`${r.host}/${r.nic}`);
    else this.failed.add(`${r.host}/${r.nic}`);
    if (r.phase !== 'redirected' || !r.targetHost) return Promise.resolve();
    const host = this.topo.hosts.find((h) => h.name === r.host);
    if (!host) return Promise.resolve();
    // live migration is modelled for pv guests; the others stay on the redirect
    const pv = new Set(host.guests.filter((g) => g.interfaces[0]?.arch === 'pv').map((g) => g.name));
    const guests = r.guests.filter((g) => pv.has(g) && this.deps.hostOf(g) === r.host);
    const run = async () => {
      if (this.deps.settleMs) await new Promise((res) => setTimeout(res, this.deps.settleMs));
      // a target whose own NIC failed meanwhile (a cut cable takes both ends) is no refuge
      const down = [...this.failed].filter((k) => k.startsWith(`${r.targetHost}/`));
      const restored = !this.failed.has(`${r.host}/${r.nic}`);
      for (const guest of guests) {
        const rec: EvacuationRecord = { guest, fromHost: r.host, toHost: r.targetHost, nic: r.nic };
        this.records.push(rec);
        if (down.length || restored) {
          rec.error = restored ? `${r.host}/${r.nic} came back: the guest stays` : `${down.join(', ')} failed too: the guest stays on the redirect`;
          this.deps.onRecord?.(rec, 'failed');
          continue;
        }
        this.deps.onRecord?.(rec, 'started');
        try {
          rec.report = await this.deps.migrate(guest, r.targetHost);
          this.deps.onRecord?.(rec, 'done');
        } catch (e) {
          rec.error = (e as Error).message;
          this.deps.onRecord?.(rec, 'failed');
        }
      }
    };
    // one evacuation at a time: a second failure waits for the first to finish
    this.chain = this.chain.then(run);
    return this.chain;
  }
}
