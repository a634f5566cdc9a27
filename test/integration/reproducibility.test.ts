// Ledger figures are reproducible run to run: the same experiment in two fresh labs gives the
// same per-packet work and the same totals within 1% (batching, which depends on the
// wall-clock order in which asynchronous services see signals, moves a few hypercalls and
// interrupts around; a lab under load may repeat an ARP exchange, a few copies more).
import { describe, expect, it } from 'vitest';
import { example, startLab, vnetlabJson } from '../src/lab_kit.js';

interface BulkJson { ledger: Array<{ host: string; primitive: string; cycles: number; ops: number }>; flows: Array<{ deliveredFrames: number }> }

async function run(): Promise<BulkJson> {
  const { dir, down } = await startLab(example('two-hosts.yaml'));
  try {
    return await vnetlabJson<BulkJson>(['bulk', 'vm-a1', 'vm-b1', '--proto', 'udp', '--bytes', '1000000'], dir);
  } finally {
    await down();
  }
}

const sum = (r: BulkJson, pred: (x: BulkJson['ledger'][number]) => boolean, field: 'cycles' | 'ops') => r.ledger.filter(pred).reduce((n, x) => n + x[field], 0);

describe('the same experiment twice', () => {
  it('charges the same per-packet operations and the same total cycles, within 1%', async () => {
    const a = await run();
    const b = await run();
    expect(b.flows[0].deliveredFrames).toBe(a.flows[0].deliveredFrames);
    for (const p of ['copy_byte', 'grant_copy_op', 'bridge_lookup', 'netback_tx', 'netfront_tx', 'stack_tx', 'stack_rx']) {
      const opsA = sum(a, (x) => x.primitive === p, 'ops');
      expect(opsA, p).toBeGreaterThan(0);
      expect(Math.abs(sum(b, (x) => x.primitive === p, 'ops') - opsA) / opsA, p).toBeLessThan(0.01);
    }
    const ta = sum(a, () => true, 'cycles');
    const tb = sum(b, () => true, 'cycles');
    expect(Math.abs(tb - ta) / ta).toBeLessThan(0.01);
  });
});
