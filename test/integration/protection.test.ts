// Why protection exists: the same attack refused and counted with the checks on, and
// visibly hurting the victim with them off (examples/architectures.yaml, host-a).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { example, startLab, vnetlab, vnetlabJson } from '../src/lab_kit.js';

interface Report {
  protection: boolean;
  victimMemoryChanged: boolean;
  violations: number;
  verdict: string;
  outcome: { attempts: number; accepted: number; refused: number };
}

describe('hostile guests against the protection checks', () => {
  let dir: string;
  let down: () => Promise<{ code: number }>;

  beforeAll(async () => {
    ({ dir, down } = await startLab(example('architectures.yaml')));
  });
  afterAll(async () => {
    await down();
  });

  it('with protection on, a guest sending under another guest\'s MAC is filtered and counted, and the victim stays reachable', async () => {
    const r = await vnetlabJson<Report>(['attack', 'spoof-mac', '--attacker', 'pv-a', '--victim', 'emu-a'], dir);
    expect(r.protection).toBe(true);
    expect(r.violations).toBeGreaterThanOrEqual(5);
    expect(r.verdict).toMatch(/^refused .*3 of 3 pings/);
  });

  it('with protection on, CDNA refuses receive buffers in another domain\'s frames and the victim\'s memory is unchanged', async () => {
    const r = await vnetlabJson<Report>(['attack', 'cdna-rx-foreign', '--attacker', 'cdna-a', '--victim', 'pv-a'], dir);
    expect(r.outcome.accepted).toBe(0);
    expect(r.outcome.refused).toBe(r.outcome.attempts);
    expect(r.violations).toBeGreaterThanOrEqual(r.outcome.attempts);
    expect(r.victimMemoryChanged).toBe(false);
    const tx = await vnetlabJson<Report>(['attack', 'cdna-tx-foreign', '--attacker', 'cdna-a', '--victim', 'pv-a'], dir);
    expect(tx.outcome.accepted).toBe(0);
    expect(tx.verdict).toMatch(/^refused/);
  });

  it('a frontend that forges its ring\'s producer index has its vif shut down and counted; the victim is untouched', async () => {
    const r = await vnetlabJson<Report>(['attack', 'ring-overflow', '--attacker', 'peer-b2', '--victim', 'peer-b1'], dir);
    expect(r.violations).toBeGreaterThanOrEqual(1);
    expect(r.victimMemoryChanged).toBe(false);
    expect(r.verdict).toMatch(/^refused .*3 of 3 pings/);
  });

  it('with protection off, the same attacks hijack the victim\'s traffic and corrupt its memory', async () => {
    expect((await vnetlab(['protection', 'host-a', 'off'], { labDir: dir })).code).toBe(0);
    const spoof = await vnetlabJson<Report>(['attack', 'spoof-mac', '--attacker', 'pv-a', '--victim', 'emu-a'], dir);
    expect(spoof.protection).toBe(false);
    expect(spoof.violations).toBe(0);
    expect(spoof.verdict).toMatch(/^hijacked/);
    const cdna = await vnetlabJson<Report>(['attack', 'cdna-rx-foreign', '--attacker', 'cdna-a', '--victim', 'mq-a'], dir);
    expect(cdna.outcome.accepted).toBeGreaterThan(0);
    expect(cdna.victimMemoryChanged).toBe(true);
    expect(cdna.verdict).toMatch(/^corrupted/);
    const tx = await vnetlabJson<Report>(['attack', 'cdna-tx-foreign', '--attacker', 'cdna-a', '--victim', 'pv-a'], dir);
    expect(tx.outcome.accepted).toBeGreaterThan(0);
    expect(tx.verdict).toMatch(/^leaked/);
  });

  it('an unknown attack is refused with the list of known ones', async () => {
    const r = await vnetlab(['attack', 'teleport', '--attacker', 'pv-a', '--victim', 'emu-a'], { labDir: dir });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/unknown attack "teleport".*spoof-mac/);
  });
});
