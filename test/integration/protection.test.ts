// Why protection exists: the same attack refused and counted with the checks on, and
// visibly hurting the victim with them off (examples/architectures.yaml, host-a).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { example, startLab, vnetlab, vnetlabJson } from '../src/lab_kit.js';
import { duringTraffic, losses, operatorBulk, type BulkRun } from '../src/traffic_during.js';

interface Report {
  protection: boolean;
  victimMemoryChanged: boolean;
  violations: number;
  verdict: string;
  outcome: { attempts: number; accepted: number; refused: number };
  measures: Array<{ name: string; value: number }>;
}

const m = (r: Report, name: string) => {
  const x = r.measures.find((y) => y.name === name);
  if (!x) throw new Error(`no measure ${name} in ${JSON.stringify(r.measures)}`);
  return x.value;
};

/** Every bulk delivered every byte, and no frame of its flows was dropped or left in flight. */
function intact(bulks: BulkRun[]): void {
  expect(bulks.length).toBeGreaterThan(0);
  expect(losses(bulks)).toEqual({ bytesLost: 0, framesDropped: 0, inFlight: 0, unbalanced: [] });
  expect(bulks.every((b) => b.bytesSent > 0 && b.flows.length > 0)).toBe(true);
}

describe('hostile guests against the protection checks', () => {
  let dir: string;
  let down: () => Promise<{ code: number }>;
  const attack = (kind: string, attacker: string, victim: string) => vnetlabJson<Report>(['attack', kind, '--attacker', attacker, '--victim', victim], dir);

  beforeAll(async () => {
    ({ dir, down } = await startLab(example('architectures.yaml')));
  });
  afterAll(async () => {
    await down();
  });

  it('with protection on, a guest sending under another guest\'s MAC is filtered, counted and logged, and a TCP transfer to the victim running meanwhile delivers every byte', async () => {
    const { result: r, bulks } = await duringTraffic(dir, { src: 'cdna-a', dst: 'emu-a', proto: 'tcp', bytes: 1_000_000 }, () => attack('spoof-mac', 'pv-a', 'emu-a'));
    expect(r.protection).toBe(true);
    expect(r.violations).toBeGreaterThanOrEqual(5);
    expect(r.verdict).toMatch(/^refused .*3 of 3 pings/);
    intact(bulks);
    // the driver domain says why it dropped them, naming the guest
    const log = readFileSync(join(dir, 'logs', 'host-a_dom0.log'), 'utf8').split('\n').filter((l) => l.includes('"spoofed_source_mac"')).map((l) => JSON.parse(l) as { msg: string; domain: string; refused: number }).filter((l) => /anti-spoofing/.test(l.msg));
    expect(log.length).toBeGreaterThan(0);
    expect(log.every((l) => l.domain === 'pv-a' && l.refused > 0)).toBe(true);
  });

  it('with protection on, CDNA refuses receive buffers and transmit requests in another domain\'s frames; the victim\'s memory is unchanged and its TCP transfer running meanwhile delivers every byte', async () => {
    const { result: [r, tx], bulks } = await duringTraffic(dir, { src: 'pv-a', dst: 'mq-a', proto: 'tcp', bytes: 1_000_000 }, async () => [await attack('cdna-rx-foreign', 'cdna-a', 'pv-a'), await attack('cdna-tx-foreign', 'cdna-a', 'pv-a')] as const);
    expect(r.outcome.accepted).toBe(0);
    expect(r.outcome.refused).toBe(r.outcome.attempts);
    expect(r.violations).toBeGreaterThanOrEqual(r.outcome.attempts);
    expect(r.victimMemoryChanged).toBe(false);
    expect(tx.outcome.accepted).toBe(0);
    expect(tx.verdict).toMatch(/^refused/);
    expect(tx.victimMemoryChanged).toBe(false);
    intact(bulks);
  });

  it('a frontend that forges its ring\'s producer index has its vif shut down and counted; the victim is untouched', async () => {
    const r = await vnetlabJson<Report>(['attack', 'ring-overflow', '--attacker', 'peer-b2', '--victim', 'peer-b1'], dir);
    expect(r.violations).toBeGreaterThanOrEqual(1);
    expect(r.victimMemoryChanged).toBe(false);
    expect(r.verdict).toMatch(/^refused .*3 of 3 pings/);
    // netback took no request from the forged index: dom0 did no work for it, and the victim's
    // round trip from the notification's instant is what it was
    expect(m(r, 'dom0_tx_requests')).toBe(0);
    expect(m(r, 'victim_pings_lost')).toBe(0);
    expect(m(r, 'victim_rtt_during_ns')).toBeLessThanOrEqual(m(r, 'victim_rtt_quiet_ns') * 1.2);
    // and the driver domain says which vif it shut down, and why
    const log = readFileSync(join(dir, 'logs', 'host-b_dom0.log'), 'utf8').split('\n').filter((l) => l.includes('"ring_overflow"')).map((l) => JSON.parse(l) as { msg: string; domain: string });
    expect(log.filter((l) => /vif shut down/.test(l.msg)).map((l) => l.domain)).toEqual(['peer-b2']);
  });

  it('with protection off, the same attacks hijack the victim\'s traffic and corrupt its memory', async () => {
    expect((await vnetlab(['protection', 'host-a', 'off'], { labDir: dir })).code).toBe(0);
    const { result: spoof, bulks } = await duringTraffic(dir, { src: 'cdna-a', dst: 'emu-a', proto: 'udp', bytes: 300_000 }, () => attack('spoof-mac', 'pv-a', 'emu-a'));
    expect(spoof.protection).toBe(false);
    expect(spoof.violations).toBe(0);
    expect(spoof.verdict).toMatch(/^hijacked/);
    // the switch now sends the victim's frames to the attacker: a transfer to the victim loses
    // them (the last during the attack, or the next one, as the hijack outlasts it)
    bulks.push(await operatorBulk(dir, 'cdna-a', 'emu-a', 'udp', 300_000));
    const lost = losses(bulks);
    expect(lost.bytesLost, JSON.stringify(bulks.map((b) => b.flows))).toBeGreaterThan(0);
    expect(lost.unbalanced).toEqual([]);
    const cdna = await vnetlabJson<Report>(['attack', 'cdna-rx-foreign', '--attacker', 'cdna-a', '--victim', 'mq-a'], dir);
    expect(cdna.outcome.accepted).toBeGreaterThan(0);
    expect(cdna.victimMemoryChanged).toBe(true);
    expect(cdna.verdict).toMatch(/^corrupted/);
    const tx = await vnetlabJson<Report>(['attack', 'cdna-tx-foreign', '--attacker', 'cdna-a', '--victim', 'pv-a'], dir);
    expect(tx.outcome.accepted).toBeGreaterThan(0);
    expect(tx.verdict).toMatch(/^leaked/);
    // last: the forged index leaves the attacker's own ring unusable
    const ring = await attack('ring-overflow', 'pv-a', 'mq-a');
    expect(ring.violations).toBe(0);
    // without netback's check dom0 serves the thousand requests the index claims, stale slots
    // round the ring, and the victim's frames wait behind that work
    expect(m(ring, 'dom0_tx_requests')).toBe(1000);
    expect(m(ring, 'victim_rtt_during_ns')).toBeGreaterThan(2 * m(ring, 'victim_rtt_quiet_ns'));
    expect(ring.verdict, JSON.stringify(ring.measures)).toMatch(/^starved/);
    expect(ring.victimMemoryChanged).toBe(false);
  });

  it('an unknown attack is refused with the list of known ones', async () => {
    const r = await vnetlab(['attack', 'teleport', '--attacker', 'pv-a', '--victim', 'emu-a'], { labDir: dir });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/unknown attack "teleport".*spoof-mac/);
  });
});
