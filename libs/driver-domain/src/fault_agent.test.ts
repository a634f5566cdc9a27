import { describe, expect, it } from 'vitest';
import { FaultAgent } from './fault_agent.js';

describe('the fault agent', () => {
  it('declares a NIC failed when its link goes down, once, and recovered when it comes back', () => {
    const a = new FaultAgent(['eth0', 'eth1'], 0, { heartbeatMs: 1000, missed: 3 });
    expect(a.report('eth0', true, 500)).toEqual([]);
    expect(a.report('eth0', false, 600)).toEqual([{ nic: 'eth0', kind: 'failed', reason: 'link_down' }]);
    expect(a.report('eth0', false, 1600)).toEqual([]); // the down heartbeat repeats the same failure
    expect(a.failed('eth0')).toBe('link_down');
    expect(a.failed('eth1')).toBeUndefined();
    expect(a.report('eth0', true, 2000)).toEqual([{ nic: 'eth0', kind: 'recovered', reason: 'link_up' }]);
    expect(a.failed('eth0')).toBeUndefined();
  });

  it('declares a silent NIC failed after the missed heartbeats, and not before', () => {
    const a = new FaultAgent(['eth0', 'eth1'], 0, { heartbeatMs: 1000, missed: 3 });
    a.report('eth1', true, 2500);
    expect(a.tick(3000)).toEqual([]);
    expect(a.tick(3001)).toEqual([{ nic: 'eth0', kind: 'failed', reason: 'heartbeats_missed' }]);
    expect(a.tick(4000)).toEqual([]); // reported once
    expect(a.tick(5501)).toEqual([{ nic: 'eth1', kind: 'failed', reason: 'heartbeats_missed' }]);
    // the NIC comes back (a restarted NIC process) and says its link is up
    expect(a.report('eth0', true, 6000)).toEqual([{ nic: 'eth0', kind: 'recovered', reason: 'link_up' }]);
    // a silent NIC that then reports its link down stays one failure
    expect(a.report('eth1', false, 6000)).toEqual([]);
    expect(a.failed('eth1')).toBe('link_down');
  });

  it('ignores NICs it does not watch and refuses nonsense settings', () => {
    const a = new FaultAgent(['eth0'], 0);
    expect(a.report('eth9', false, 1)).toEqual([]);
    expect(a.watched()).toEqual(['eth0']);
    expect(() => new FaultAgent([], 0, { heartbeatMs: 0, missed: 3 })).toThrow(/heartbeatMs/);
  });
});
