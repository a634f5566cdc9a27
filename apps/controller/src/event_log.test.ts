import { describe, expect, it } from 'vitest';
import { decodeLabEvent, EventLog, formatEntry, migrationLine, parseSince } from './event_log.js';

const mig = { domain: 'vm-a1', sourceHost: 'host-a', targetHost: 'host-b', phase: 'precopy', round: 2, pages: 164, bytes: 673056, startNs: 1e6, endNs: 2e6, downtimeSeconds: 0, detail: 'converged' };

describe('the event log', () => {
  it('keeps the last entries in order, filters by wall time, and tells followers of new ones only', () => {
    let now = 1000;
    const log = new EventLog(3, () => now);
    for (let i = 0; i < 5; i++) {
      now += 10;
      log.addLabEvent({ kind: `k${i}`, service: 'fabric', host: 'lab', msg: `m${i}`, tNs: i * 100, link: 'link0' });
    }
    expect(log.since().map((e) => [e.seq, e.kind])).toEqual([[3, 'k2'], [4, 'k3'], [5, 'k4']]);
    expect(log.since(1040).map((e) => e.kind)).toEqual(['k3', 'k4']);
    expect(JSON.parse(log.since()[0]!.fieldsJson)).toEqual({ link: 'link0' });
    const seen: string[] = [];
    const stop = log.follow((e) => seen.push(e.kind));
    log.addMigrationEvent(mig);
    stop();
    log.addMigrationEvent({ ...mig, phase: 'done', detail: '' });
    expect(seen).toEqual(['migration-precopy']);
    expect(log.since().at(-1)).toMatchObject({ kind: 'migration-done', host: 'host-a', tNs: 2e6, hasTNs: true });
  });

  it('an event without a modelled time says so, and the lines read as a timeline', () => {
    const log = new EventLog(10, () => Date.UTC(2026, 10, 26, 15, 4, 5, 123));
    const e = log.addLabEvent({ kind: 'evacuation-started', service: 'controller', msg: 'vm-a1 leaves host-a' });
    expect(e.hasTNs).toBe(false);
    expect(formatEntry(e)).toMatch(/^15:04:05\.123 +— +evacuation-started +vm-a1 leaves host-a$/);
    expect(formatEntry(log.addMigrationEvent(mig))).toMatch(/^15:04:05\.123 +2\.000 ms +migration-precopy +vm-a1: host-a → host-b: pre-copy round 2: 164 pages in 1\.000 ms — stop: converged$/);
    expect(migrationLine({ ...mig, phase: 'released', downtimeSeconds: 135e-6 })).toMatch(/downtime 0\.135 ms/);
  });

  it('takes from lab.events only JSON objects with a kind', () => {
    const enc = (s: string) => new TextEncoder().encode(s);
    expect(decodeLabEvent(enc('{"kind":"link-cut","service":"fabric","msg":"link0 cut"}')).kind).toBe('link-cut');
    for (const bad of ['null', '3', '[]', '{"msg":"no kind"}', 'not json']) expect(() => decodeLabEvent(enc(bad)), bad).toThrow();
  });

  it('--since takes a duration ago or a date, and names what it cannot read', () => {
    expect(parseSince('30s', 100_000)).toBe(70_000);
    expect(parseSince('2m', 200_000)).toBe(80_000);
    expect(parseSince('2026-11-26T15:00:00Z')).toBe(Date.UTC(2026, 10, 26, 15));
    expect(() => parseSince('yesterday')).toThrow(/--since takes/);
  });
});
