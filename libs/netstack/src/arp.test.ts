import { describe, it, expect } from 'vitest';
import { BROADCAST_MAC, decodeArp, decodeEthernet, decodeIpv4, ETHERTYPE_ARP, ETHERTYPE_IPV4 } from '@vnetlab/frames';
import { NetStack } from './net_stack.js';
import { BackToBack } from './back_to_back.testkit.js';

const A = { mac: '02:00:00:00:00:0a', ip: '10.0.0.1' };
const B = { mac: '02:00:00:00:00:0b', ip: '10.0.0.2' };

describe('ARP and ICMP echo', () => {
  it('resolves the peer by ARP, then the echo reply reports the rtt in modelled time', () => {
    const w = new BackToBack(new NetStack(A), new NetStack(B), { latencyNs: 25_000 });
    const first = w.a.ping(B.ip, 1, 0);
    // The echo request waits for ARP: only a broadcast ARP request leaves.
    expect(first.frames).toHaveLength(1);
    const eth = decodeEthernet(first.frames[0]!);
    expect(eth).toMatchObject({ dst: BROADCAST_MAC, src: A.mac, ethertype: ETHERTYPE_ARP });
    expect(decodeArp(eth.payload)).toMatchObject({ op: 1, senderIp: A.ip, targetIp: B.ip });
    w.put('a', first);
    w.run();

    const replies1 = w.eventsOf('a', 'echo-reply');
    expect(replies1).toHaveLength(1);
    expect(replies1[0]).toMatchObject({ from: B.ip, seq: 1 });
    // rtt = time the reply reached A minus the send time (0), ARP round trip included.
    expect(replies1[0]!.rttNs).toBe(replies1[0]!.atNs);
    expect(w.a.arpEntries()).toEqual([{ ip: B.ip, mac: B.mac }]);
    expect(w.b.arpEntries()).toEqual([{ ip: A.ip, mac: A.mac }]); // learnt from A's request

    const sentAt = w.now + 1_000_000;
    w.now = sentAt;
    const second = w.a.ping(B.ip, 2, sentAt, 100);
    expect(second.frames).toHaveLength(1); // resolved now: straight out as IPv4
    expect(decodeEthernet(second.frames[0]!)).toMatchObject({ dst: B.mac, ethertype: ETHERTYPE_IPV4 });
    w.put('a', second);
    w.run();
    const r2 = w.eventsOf('a', 'echo-reply')[1]!;
    expect(r2.seq).toBe(2);
    expect(r2.rttNs).toBe(r2.atNs - sentAt);
    expect(r2.rttNs).toBeLessThan(replies1[0]!.rttNs); // no ARP exchange this time
    expect(r2.rttNs).toBeGreaterThanOrEqual(2 * 25_000);
    expect(w.a.stats().arp.requestsSent).toBe(1);
    expect(w.b.stats().icmp.echoRepliesSent).toBe(2);
  });

  it('drops packets beyond the ARP queue limit with reason arp_queue_full and sends the queued ones on reply', () => {
    const w = new BackToBack(new NetStack({ ...A, arpQueueLimit: 2 }), new NetStack(B));
    w.b.bindUdp(7);
    const outs = [0, 1, 2].map((i) => w.a.sendUdp(B.ip, 1000, 7, Buffer.from([i]), 0));
    expect(outs.map((o) => o.frames.length)).toEqual([1, 0, 0]); // one ARP request, two held
    expect(outs[2]!.events).toEqual([{ kind: 'drop', reason: 'arp_queue_full' }]);
    outs.forEach((o) => w.put('a', o));
    w.run();
    expect(w.eventsOf('b', 'udp').map((e) => e.payload[0])).toEqual([0, 1]);
    expect(w.a.stats().drops).toEqual({ arp_queue_full: 1 });
  });

  it('retries an unanswered ARP request, then drops what it held with reason arp_unresolved', () => {
    const a = new NetStack({ ...A, arpRetryNs: 1e9, arpMaxTries: 3 });
    const first = a.sendUdp('10.0.0.99', 1000, 7, Buffer.alloc(10), 0);
    expect(first.frames).toHaveLength(1);
    const requests: number[] = [];
    let t = a.nextTimerNs();
    const drops: string[] = [];
    while (t !== undefined) {
      const out = a.fireTimers(t);
      requests.push(...out.frames.map(() => t!));
      drops.push(...out.events.flatMap((e) => (e.kind === 'drop' ? [e.reason] : [])));
      t = a.nextTimerNs();
    }
    expect(requests).toEqual([1e9, 2e9]);      // tries 2 and 3
    expect(drops).toEqual(['arp_unresolved']);
    expect(a.stats().arp.queued).toBe(0);
  });

  it('answers ARP requests only for its own address', () => {
    const b = new NetStack(B);
    const other = new NetStack({ mac: '02:00:00:00:00:0c', ip: '10.0.0.3' });
    const req = other.ping('10.0.0.4', 1, 0).frames[0]!; // an ARP request for someone else
    const out = b.receive(req, 10);
    expect(out.frames).toHaveLength(0);
    expect(out.events).toEqual([{ kind: 'drop', reason: 'arp_not_for_us' }]);
    expect(b.arpEntries()).toEqual([]);
  });

  it('a gratuitous ARP moves a known peer to its new MAC', () => {
    const w = new BackToBack(new NetStack(A), new NetStack(B));
    w.put('a', w.a.ping(B.ip, 1, 0));
    w.run();
    expect(w.a.arpEntries()).toEqual([{ ip: B.ip, mac: B.mac }]);
    // The same address now answers from another MAC (a migrated guest announcing itself).
    const moved = new NetStack({ mac: '02:00:00:00:00:bb', ip: B.ip });
    const ann = moved.announce(w.now);
    const arp = decodeArp(decodeEthernet(ann.frames[0]!).payload);
    expect(arp).toMatchObject({ senderIp: B.ip, targetIp: B.ip, senderMac: '02:00:00:00:00:bb' });
    w.a.receive(ann.frames[0]!, w.now);
    expect(w.a.arpEntries()).toEqual([{ ip: B.ip, mac: '02:00:00:00:00:bb' }]);
    const ping = w.a.ping(B.ip, 2, w.now);
    expect(decodeEthernet(ping.frames[0]!).dst).toBe('02:00:00:00:00:bb');
    expect(decodeIpv4(decodeEthernet(ping.frames[0]!).payload).dst).toBe(B.ip);
  });
});
