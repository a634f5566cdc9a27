import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parseTopology } from '@vnetlab/topology';
import { flowTouches, linkBetween, phaseTraffic, Reservations } from './migration_report.js';

const twoHosts = parseTopology(readFileSync(new URL('../../../examples/two-hosts.yaml', import.meta.url), 'utf8'));

describe('migration: the link, its reservation and the traffic by phase', () => {
  it('finds the link joining two hosts, and none to a host it does not reach', () => {
    expect(linkBetween(twoHosts, 'host-a', 'host-b')?.rate_bps).toBe(1e9);
    expect(linkBetween(twoHosts, 'host-a', 'host-z')).toBeUndefined();
  });

  it('reserves half the link by default; migrations on one link must fit in its rate together, and a release gives it back', () => {
    const link = linkBetween(twoHosts, 'host-a', 'host-b')!;
    const r = new Reservations();
    const first = r.reserve(link, undefined);
    expect(first.bps).toBe(5e8);
    const second = r.reserve(link, 4e8);
    expect(() => r.reserve(link, 2e8)).toThrow(/cannot reserve 200 Mb\/s: 900 Mb\/s already reserved/);
    first.release();
    first.release(); // once only
    expect(r.reserve(link, 6e8).bps).toBe(6e8);
    second.release();
  });

  it("counts the guest's flows only, both ways, as differences between two snapshots", () => {
    expect(flowTouches('udp 10.0.0.1:5001>10.0.0.3:5001', '10.0.0.1')).toBe(true);
    expect(flowTouches('tcp 10.0.0.3:5001>10.0.0.1:49152', '10.0.0.1')).toBe(true);
    expect(flowTouches('tcp 10.0.0.3:5001>10.0.0.11:49152', '10.0.0.1')).toBe(false);
    const before = [{ flow: 'udp 10.0.0.3:1>10.0.0.1:5001', sentFrames: 10, sentBytes: 0, deliveredFrames: 8, deliveredBytes: 0, drops: { rx_backlog_full: 2 } }];
    const after = [
      { flow: 'udp 10.0.0.3:1>10.0.0.1:5001', sentFrames: 30, sentBytes: 0, deliveredFrames: 20, deliveredBytes: 0, drops: { rx_backlog_full: 2, vif_disconnected: 5 } },
      { flow: 'udp 10.0.0.4:1>10.0.0.3:5001', sentFrames: 99, sentBytes: 0, deliveredFrames: 99, deliveredBytes: 0, drops: {} },
      { flow: 'tcp 10.0.0.1:49152>10.0.0.3:5001', sentFrames: 7, sentBytes: 0, deliveredFrames: 4, deliveredBytes: 0, drops: {} },
    ];
    const t = phaseTraffic('stop_and_copy', '10.0.0.1', before, after, { startNs: 10.4, endNs: 20.6, migrationBytes: 4104 });
    expect(t).toEqual({
      phase: 'stop_and_copy', startNs: 10, endNs: 21, migrationBytes: 4104, framesSent: 27, framesDelivered: 16, drops: { vif_disconnected: 5 },
      fromGuestSent: 7, fromGuestDelivered: 4, toGuestSent: 20, toGuestDelivered: 12,
    });
  });
});
