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
    for (let t = 250; t <= 2500; t += 250) a.tick(t);
    a.report('eth1', true, 2500);
    for (let t = 2750; t <= 3000; t += 250) expect(a.tick(t)).toEqual([]);
    expect(a.tick(3001)).toEqual([{ nic: 'eth0', kind: 'failed', reason: 'heartbeats_missed' }]);
    for (let t = 3250; t <= 5500; t += 250) expect(a.tick(t), `t=${t}`).toEqual([]); // eth0 reported once
    expect(a.tick(5501)).toEqual([{ nic: 'eth1', kind: 'failed', reason: 'heartbeats_missed' }]);
    // the NIC comes back (a restarted NIC process) and says its link is up
    expect(a.report('eth0', true, 6000)).toEqual([{ nic: 'eth0', kind: 'recovered', reason: 'link_up' }]);
    // a silent NIC that then reports its link down stays one failure
    expect(a.report('eth1', false, 6000)).toEqual([]);
    expect(a.failed('eth1')).toBe('link_down');
  });

  it('does not take its own stall for the NICs\' silence', () => {
    const a = new FaultAgent(['eth0'], 0, { heartbeatMs: 1000, missed: 3 });
    a.report('eth0', true, 500);
    // the agent's process did nothing for 10 s: the heartbeats sent meanwhile wait unread
    expect(a.tick(10_500)).toEqual([]);
    expect(a.report('eth0', true, 10_501)).toEqual([]);
    // a NIC that really is silent is still found
    for (let t = 10_750; t <= 13_500; t += 250) expect(a.tick(t)).toEqual([]);
    expect(a.tick(13_750)).toEqual([{ nic: 'eth0', kind: 'failed', reason: 'heartbeats_missed' }]);
  });

  it('ignores NICs it does not watch and refuses nonsense settings', () => {
    const a = new FaultAgent(['eth0'], 0);
    expect(a.report('eth9', false, 1)).toEqual([]);
    expect(a.watched()).toEqual(['eth0']);
    expect(() => new FaultAgent([], 0, { heartbeatMs: 0, missed: 3 })).toThrow(/heartbeatMs/);
  });
});
