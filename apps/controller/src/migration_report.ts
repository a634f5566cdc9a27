// What `vnetlab migrate` reports and checks before it starts: the link that carries the
// migration stream and the bandwidth reserved on it, the guest's traffic in each phase, and
// the report as text.
import type { FlowCount } from '@vnetlab/flows';
import type { migration } from '@vnetlab/proto';
import { parseEndpoint, type Link, type Topology } from '@vnetlab/topology';

/** The link joining a NIC of `a` to a NIC of `b` (a cable or a segment), or undefined. */
export function linkBetween(topo: Topology, a: string, b: string): Link | undefined {
  return topo.links.find((l) => {
    const hosts = l.ends.map((e) => parseEndpoint(e).host);
    return hosts.includes(a) && hosts.includes(b);
  });
}

/** Bandwidth reserved per link for migrations under way: a new one must fit beside them. */
export class Reservations {
  private readonly held = new Map<string, number>();

  /** Reserves `bps` on `link` (default: half its rate); throws if the link cannot carry it. */
  reserve(link: Link, bps: number | undefined): { bps: number; release: () => void } {
    const want = bps && bps > 0 ? bps : link.rate_bps / 2;
    const used = this.held.get(link.name) ?? 0;
    if (used + want > link.rate_bps) {
      throw new Error(`link ${link.name} (${link.rate_bps / 1e6} Mb/s) cannot reserve ${want / 1e6} Mb/s: ${used / 1e6} Mb/s already reserved by migrations under way`);
    }
    this.held.set(link.name, used + want);
    let done = false;
    return {
      bps: want,
      release: () => {
        if (done) return;
        done = true;
        this.held.set(link.name, (this.held.get(link.name) ?? want) - want);
      },
    };
  }
}

/** Whether a flow ("udp 10.0.0.1:5001>10.0.0.3:5001") has `ip` at either end. */
export function flowTouches(flow: string, ip: string): boolean {
  return flowDirection(flow, ip) !== undefined;
}

/** Whether a flow leaves `ip` ('from') or goes to it ('to'); undefined if it does not touch it. */
export function flowDirection(flow: string, ip: string): 'from' | 'to' | undefined {
  const m = /^\w+ ([\d.]+):\d+>([\d.]+):\d+$/.exec(flow);
  if (!m) return undefined;
  if (m[1] === ip) return 'from';
  if (m[2] === ip) return 'to';
  return undefined;
}

/** The guest's traffic between two snapshots of the lab's flow counters, both ways and by direction. */
export function phaseTraffic(
  phase: string, ip: string, before: FlowCount[], after: FlowCount[],
  window: { startNs: number; endNs: number; migrationBytes: number },
): migration.PhaseTraffic {
  const drops: Record<string, number> = {};
  const dir = { from: { sent: 0, delivered: 0 }, to: { sent: 0, delivered: 0 } };
  const prior = new Map(before.map((f) => [f.flow, f]));
  for (const f of after) {
    const d = flowDirection(f.flow, ip);
    if (!d) continue;
    const b = prior.get(f.flow);
    dir[d].sent += f.sentFrames - (b?.sentFrames ?? 0);
    dir[d].delivered += f.deliveredFrames - (b?.deliveredFrames ?? 0);
    for (const [reason, n] of Object.entries(f.drops)) {
      const x = n - (b?.drops[reason] ?? 0);
      if (x > 0) drops[reason] = (drops[reason] ?? 0) + x;
    }
  }
  return {
    phase, startNs: Math.round(window.startNs), endNs: Math.round(window.endNs), migrationBytes: window.migrationBytes,
    framesSent: dir.from.sent + dir.to.sent, framesDelivered: dir.from.delivered + dir.to.delivered, drops,
    fromGuestSent: dir.from.sent, fromGuestDelivered: dir.from.delivered, toGuestSent: dir.to.sent, toGuestDelivered: dir.to.delivered,
  };
}

const ms = (ns: number) => `${(ns / 1e6).toFixed(3)} ms`;

/** The report as the operator reads it. */
export function formatReport(r: migration.MigrationReport): string[] {
  const lines = [
    `migrated ${r.guest}: ${r.from} (dom${r.sourceDomid}) → ${r.to} (dom${r.targetDomid}) at ${(r.bandwidthBps / 1e6).toFixed(0)} Mb/s reserved`,
    `rounds: ${r.rounds.length} (pre-copy stopped: ${r.stopReason}); pages sent ${r.pagesTotal}`,
    'round  phase          pages      bytes   modelled time  dirtied during',
    ...r.rounds.map((x) => `${String(x.round).padStart(5)}  ${x.phase.padEnd(13)}  ${String(x.pages).padStart(5)}  ${String(x.bytes).padStart(9)}  ${ms(x.endNs - x.startNs).padStart(13)}  ${x.phase === 'precopy' ? String(x.dirtiedDuring).padStart(14) : ''}`),
    `total ${ms(r.totalSeconds * 1e9)}, downtime ${ms(r.downtimeSeconds * 1e9)} (modelled); frames queued while suspended: ${r.framesQueued}`,
    `memory sha256: source ${r.sourceSha256.slice(0, 16)}…, target ${r.targetSha256.slice(0, 16)}… ${r.sourceSha256 === r.targetSha256 ? '(identical)' : '(DIFFERENT)'}`,
    'traffic of the guest by phase:',
    ...r.traffic.map((t) => {
      const drops = Object.entries(t.drops).map(([k, n]) => `${k} ${n}`).join(', ');
      return `  ${t.phase.padEnd(13)} ${ms(t.endNs - t.startNs).padStart(12)}  migration ${t.migrationBytes} B  from the guest: sent ${t.fromGuestSent}, delivered ${t.fromGuestDelivered}; to it: sent ${t.toGuestSent}, delivered ${t.toGuestDelivered}${drops ? `; dropped: ${drops}` : ''}`;
    }),
  ];
  return lines;
}
