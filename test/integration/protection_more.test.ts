// The rest of the hostile guests (examples/architectures.yaml, host-a): a grant of a frame the
// granter does not own, foreign descriptors from a multiqueue and a passed-through guest, an
// event-channel storm, a page given away while a DMA is aimed at it — each refused and
// counted with protection on, the victim's memory hash and reachability unchanged; each
// doing its harm with protection off. And the operator API refusing a caller without the
// lab's token.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { protection } from '@vnetlab/proto';
import { grpcClient, unary } from '@vnetlab/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { example, metricValue as sample, startLab, vnetlab, vnetlabJson, type LabInfo } from '../src/lab_kit.js';
import { duringTraffic, losses, type BulkRun } from '../src/traffic_during.js';

interface Report {
  kind: string;
  protection: boolean;
  victimHashBefore: string;
  victimHashAfter: string;
  victimMemoryChanged: boolean;
  victimReached: boolean;
  violations: number;
  verdict: string;
  outcome: { attempts: number; accepted: number; refused: number; detail: string };
  measures: Array<{ name: string; value: number }>;
}

/** A counter's value, 0 while it has never been incremented (not exported yet). */
const metricValue = (text: string, name: string, labels: Record<string, string>) => sample(text, name, labels) || 0;

const m = (r: Report, name: string) => {
  const x = r.measures.find((y) => y.name === name);
  if (!x) throw new Error(`no measure ${name} in ${JSON.stringify(r.measures)}`);
  return x.value;
};

describe('more hostile guests against the protection checks', () => {
  let dir: string;
  let lab: LabInfo;
  let down: () => Promise<{ code: number }>;
  const attack = (kind: string, attacker: string, victim: string) => vnetlabJson<Report>(['attack', kind, '--attacker', attacker, '--victim', victim], dir);
  const metrics = (name: string) => fetch(lab.services.find((s) => s.name === name)!.metricsUrl).then((r) => r.text());
  /** The victim's state is the same after as before: memory hash, and a third guest still reaches it. */
  const untouched = (r: Report) => {
    expect(r.victimHashAfter).toBe(r.victimHashBefore);
    expect(r.victimMemoryChanged).toBe(false);
    expect(r.victimReached, r.verdict).toBe(true);
  };

  /** The victim's transfer that ran during the attack delivered every byte; none of its frames dropped. */
  const flowsIntact = (bulks: BulkRun[]) => {
    expect(bulks.length).toBeGreaterThan(0);
    expect(losses(bulks)).toEqual({ bytesLost: 0, framesDropped: 0, inFlight: 0, unbalanced: [] });
  };

  beforeAll(async () => {
    ({ dir, lab, down } = await startLab(example('architectures.yaml')));
  });
  afterAll(async () => {
    await down();
  });

  it('legitimate traffic sends no notification beyond the storm bound', async () => {
    expect((await vnetlab(['bulk', 'pv-a', 'peer-b0', '--bytes', '2000000'], { labDir: dir })).code).toBe(0);
    expect((await vnetlab(['bulk', 'mq-a', 'pv-a', '--bytes', '1000000'], { labDir: dir })).code).toBe(0);
    expect(metricValue(await metrics('host-a/hypervisor'), 'vnetlab_protection_violations_total', { kind: 'evtchn_storm' })).toBe(0);
  });

  it('with protection on, a pv guest granting the victim\'s frame to dom0 is refused by the grant check; the victim is untouched and its TCP transfer running meanwhile delivers every byte', async () => {
    const { result: r, bulks } = await duringTraffic(dir, { src: 'mq-a', dst: 'cdna-a', proto: 'tcp', bytes: 1_000_000 }, () => attack('grant-foreign', 'pv-a', 'mq-a'));
    flowsIntact(bulks);
    expect(r.protection).toBe(true);
    expect(r.outcome.accepted).toBe(0); // its transmit request was refused
    expect(r.violations).toBeGreaterThanOrEqual(5); // the transmit request and the 4 receive buffers
    // counted against the granter, not against dom0 whose copy it refused
    expect(metricValue(await metrics('host-a/hypervisor'), 'vnetlab_protection_violations_total', { kind: 'grant_foreign_page', domain: 'pv-a' })).toBeGreaterThanOrEqual(5);
    expect(r.verdict).toMatch(/^refused/);
    untouched(r);
  });

  it('with protection on, a multiqueue guest\'s buffers in the victim\'s frame are refused by dom0\'s grant map; the victim\'s TCP transfer running meanwhile delivers every byte', async () => {
    const { result: [rx, tx], bulks } = await duringTraffic(dir, { src: 'pv-a', dst: 'cdna-a', proto: 'tcp', bytes: 1_000_000 }, async () => [await attack('mq-rx-foreign', 'mq-a', 'pv-a'), await attack('mq-tx-foreign', 'mq-a', 'pv-a')] as const);
    flowsIntact(bulks);
    expect(rx.violations).toBeGreaterThanOrEqual(4);
    untouched(rx);
    expect(tx.outcome).toMatchObject({ accepted: 0, refused: 1 });
    expect(tx.verdict).toMatch(/^refused/);
    untouched(tx);
  });

  it('with protection on, a passed-through guest\'s descriptors at the victim\'s frames fault in the IOMMU', async () => {
    const rx = await attack('passthrough-rx-foreign', 'pt-a', 'pv-a');
    expect(rx.violations).toBeGreaterThanOrEqual(8);
    untouched(rx);
    const tx = await attack('passthrough-tx-foreign', 'pt-a', 'pv-a');
    expect(tx.outcome).toMatchObject({ attempts: 8, accepted: 0 });
    expect(tx.violations).toBeGreaterThanOrEqual(8);
    expect(metricValue(await metrics('host-a/eth1'), 'vnetlab_protection_violations_total', { kind: 'iommu_fault', domain: 'pt-a' })).toBeGreaterThanOrEqual(16);
    untouched(tx);
  });

  it('with protection on, an event-channel storm is coalesced and counted, and the victim\'s round trip stays as it was', async () => {
    const r = await attack('evtchn-storm', 'pv-a', 'mq-a');
    const sent = m(r, 'notifications_sent');
    expect(m(r, 'upcalls_raised')).toBeLessThan(sent / 5);
    expect(r.violations).toBeGreaterThanOrEqual(sent - m(r, 'upcalls_raised'));
    expect(m(r, 'dom0_upcalls')).toBe(m(r, 'upcalls_raised'));
    expect(m(r, 'victim_pings_lost')).toBe(0);
    // a coalesced upcall is late by at most one window (100 µs)
    expect(m(r, 'victim_rtt_storm_ns')).toBeLessThanOrEqual(m(r, 'victim_rtt_quiet_ns') + 100_000);
    expect(r.verdict).toMatch(/^refused/);
    untouched(r);
  });

  it('with protection on, a page with an enqueued receive buffer cannot be given away', async () => {
    const r = await attack('give-away-dma', 'cdna-a', 'pv-a');
    expect(r.outcome).toMatchObject({ attempts: 1, accepted: 0, refused: 1 });
    expect(metricValue(await metrics('host-a/hypervisor'), 'vnetlab_protection_violations_total', { kind: 'transfer_busy', domain: 'cdna-a' })).toBeGreaterThanOrEqual(1);
    expect(m(r, 'victim_memory_changed_by_dma')).toBe(0);
    untouched(r);
  });

  it('the operator API refuses a caller without the lab\'s token, and counts it; the lab file holding the token is the operator\'s alone', async () => {
    const labFile = join(dir, 'lab.json');
    expect(statSync(labFile).mode & 0o077).toBe(0);
    const { operatorAddr } = JSON.parse(readFileSync(labFile, 'utf8')) as { operatorAddr: string };
    const targets = JSON.parse(readFileSync(join(dir, 'prometheus', 'targets.json'), 'utf8')) as Array<{ targets: string[]; labels: { kind: string } }>;
    const controllerMetrics = `http://${targets.find((t) => t.labels.kind === 'controller')!.targets[0]}/metrics`;
    const refusedBefore = metricValue(await fetch(controllerMetrics).then((r) => r.text()), 'vnetlab_bad_messages_total', { reason: 'unauthenticated' });
    const c = grpcClient(protection.ProtectionClient, operatorAddr);
    try {
      const switchOff = (md: grpc.Metadata) => unary((cb) => c.setProtection({ host: 'host-a', on: false }, md, cb));
      await expect(switchOff(new grpc.Metadata())).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
      const forged = new grpc.Metadata();
      forged.set('x-vnetlab-operator-token', 'f'.repeat(48));
      await expect(switchOff(forged)).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    } finally {
      c.close();
    }
    expect(metricValue(await fetch(controllerMetrics).then((r) => r.text()), 'vnetlab_bad_messages_total', { reason: 'unauthenticated' })).toBe(refusedBefore + 2);
    // protection stayed on: the grant check still refuses
    expect((await attack('mq-tx-foreign', 'mq-a', 'pv-a')).verdict).toMatch(/^refused/);
  });

  it('with protection off, each attack does its harm: memory written, memory leaked, dom0 starved, DMA into the victim\'s page', async () => {
    expect((await vnetlab(['protection', 'host-a', 'off'], { labDir: dir })).code).toBe(0);

    const grant = await attack('grant-foreign', 'pv-a', 'mq-a');
    expect(grant.protection).toBe(false);
    expect(grant.violations).toBe(0);
    expect(grant.outcome.accepted).toBe(1); // the victim's page went out as a frame
    expect(grant.victimHashAfter).not.toBe(grant.victimHashBefore); // and frames were written into it
    expect(grant.verdict).toMatch(/^corrupted/);

    const mqRx = await attack('mq-rx-foreign', 'mq-a', 'pv-a');
    expect(mqRx.victimHashAfter).not.toBe(mqRx.victimHashBefore);
    expect(mqRx.verdict).toMatch(/^corrupted/);
    const mqTx = await attack('mq-tx-foreign', 'mq-a', 'pv-a');
    expect(mqTx.outcome.accepted).toBe(1);
    expect(mqTx.verdict).toMatch(/^leaked/);

    const ptRx = await attack('passthrough-rx-foreign', 'pt-a', 'pv-a');
    expect(ptRx.victimHashAfter).not.toBe(ptRx.victimHashBefore);
    expect(ptRx.verdict).toMatch(/^corrupted/);
    const ptTx = await attack('passthrough-tx-foreign', 'pt-a', 'pv-a');
    expect(ptTx.outcome.accepted).toBe(8);
    expect(ptTx.verdict).toMatch(/^leaked/);

    const storm = await attack('evtchn-storm', 'pv-a', 'mq-a');
    expect(m(storm, 'upcalls_raised')).toBe(m(storm, 'notifications_sent'));
    expect(m(storm, 'dom0_upcalls')).toBe(m(storm, 'notifications_sent'));
    expect(m(storm, 'victim_rtt_storm_ns')).toBeGreaterThan(2 * m(storm, 'victim_rtt_quiet_ns'));
    expect(storm.verdict, JSON.stringify(storm.measures)).toMatch(/^starved/);

    const give = await attack('give-away-dma', 'cdna-a', 'pv-a');
    expect(give.outcome.accepted).toBe(1);
    expect(m(give, 'victim_memory_changed_by_dma')).toBe(1);
    expect(give.victimHashAfter).not.toBe(give.victimHashBefore);
    expect(give.verdict).toMatch(/^corrupted/);
  });
});
