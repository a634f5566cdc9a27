// The lab's timeline as the controller hears it: operator-visible events (lab.events: fault
// phases, evacuations, cuts, services ready) and the phases of live migrations
// (migration.<host>), one entry each with the wall time it arrived and the modelled time it
// happened. Bounded: the oldest go first. `vnetlab events` reads it over the operator API.
import type { control, LabEvent, migration } from '@vnetlab/proto';

export type EventEntry = control.LabEventEntry;

/** A lab.events payload, or an error if it is not one (counted by the subscription as a bad message). */
export function decodeLabEvent(data: Uint8Array): LabEvent {
  const v: unknown = JSON.parse(new TextDecoder().decode(data));
  if (typeof v !== 'object' || v === null || Array.isArray(v) || typeof (v as { kind?: unknown }).kind !== 'string') {
    throw new Error('not a LabEvent: a JSON object with a string kind');
  }
  return v as LabEvent;
}

/** Entries kept; a busy lab's last few thousand events cover any scenario a person follows. */
export const EVENT_LOG_SIZE = 2000;

export class EventLog {
  private readonly entries: EventEntry[] = [];
  private seq = 0;
  private readonly listeners = new Set<(e: EventEntry) => void>();

  constructor(private readonly size = EVENT_LOG_SIZE, private readonly now: () => number = Date.now) {}

  add(e: Omit<EventEntry, 'seq' | 'wallMs'>): EventEntry {
    const entry: EventEntry = { ...e, seq: ++this.seq, wallMs: this.now() };
    this.entries.push(entry);
    if (this.entries.length > this.size) this.entries.splice(0, this.entries.length - this.size);
    for (const l of this.listeners) l(entry);
    return entry;
  }

  /** A JSON event from lab.events. */
  addLabEvent(ev: LabEvent): EventEntry {
    const { kind, service, host, tNs, msg, ...rest } = ev;
    const t = typeof tNs === 'number' && Number.isFinite(tNs) && tNs >= 0 ? Math.round(tNs) : undefined;
    return this.add({
      kind: String(kind), service: String(service ?? ''), host: String(host ?? ''), msg: String(msg ?? ''),
      tNs: t ?? 0, hasTNs: t !== undefined, fieldsJson: JSON.stringify(rest),
    });
  }

  /** A migration phase from migration.<host>. */
  addMigrationEvent(m: migration.MigrationEvent): EventEntry {
    return this.add({
      kind: `migration-${m.phase}`, service: 'migration', host: m.sourceHost, msg: migrationLine(m),
      tNs: Math.round(m.endNs), hasTNs: m.endNs > 0 || m.startNs > 0,
      fieldsJson: JSON.stringify({ domain: m.domain, targetHost: m.targetHost, round: m.round, pages: m.pages, bytes: m.bytes, startNs: m.startNs, endNs: m.endNs }),
    });
  }

  /** What was logged at or after `sinceMs` (wall), oldest first. */
  since(sinceMs = 0): EventEntry[] {
    return this.entries.filter((e) => e.wallMs >= sinceMs);
  }

  /** Calls fn with every entry logged from now on; returns how to stop. */
  follow(fn: (e: EventEntry) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
}

const ms = (ns: number) => `${(ns / 1e6).toFixed(3)} ms`;

/** One line for a person, in the words `vnetlab migrate` prints as it goes. */
export function migrationLine(m: migration.MigrationEvent): string {
  const who = `${m.domain}: ${m.sourceHost} → ${m.targetHost || '?'}`;
  switch (m.phase) {
    case 'reserved': return `${who}: reserved ${m.detail}`;
    case 'prepared': return `${who}: target prepared (${m.detail})`;
    case 'precopy': return `${who}: pre-copy round ${m.round}: ${m.pages} pages in ${ms(m.endNs - m.startNs)}${m.detail ? ` — stop: ${m.detail}` : ''}`;
    case 'stop_and_copy': return `${who}: stop-and-copy (round ${m.round}): ${m.pages} pages in ${ms(m.endNs - m.startNs)}`;
    case 'resumed': return `${who}: resumed as ${m.detail}, ${ms(m.endNs - m.startNs)} after it suspended`;
    case 'released': return `${who}: source domain released; downtime ${ms(m.downtimeSeconds * 1e9)} (modelled)`;
    case 'done': return `${who}: done${m.detail ? ` (${m.detail})` : ''}`;
    case 'aborted': return `${who}: aborted: ${m.detail}`;
    default: return `${who}: ${m.phase}${m.detail ? ` (${m.detail})` : ''}`;
  }
}

/** "HH:MM:SS.mmm" (UTC) of a wall time, and the modelled time when there is one. */
export function formatEntry(e: EventEntry): string {
  const wall = new Date(e.wallMs).toISOString().slice(11, 23);
  const t = e.hasTNs ? ms(e.tNs).padStart(14) : '—'.padStart(14);
  return `${wall}  ${t}  ${e.kind.padEnd(23)}  ${e.msg}`;
}

/** --since: "30s", "5m", "2h", "1500ms" ago, or an ISO date; the wall time in ms. */
export function parseSince(s: string, now = Date.now()): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(s.trim());
  if (m) return now - Number(m[1]) * { ms: 1, s: 1e3, m: 60e3, h: 3600e3 }[m[2] as 'ms' | 's' | 'm' | 'h'];
  const t = Date.parse(s);
  if (Number.isNaN(t)) throw new Error(`--since takes a duration ago (30s, 5m, 2h) or a date (2026-11-26T15:04:00Z), got "${s}"`);
  return t;
}
