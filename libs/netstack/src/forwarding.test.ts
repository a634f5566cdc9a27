import { describe, expect, it } from 'vitest';
import { decodeEthernet, decodeIpv4, internetChecksum } from '@vnetlab/frames';
import { NetStack } from './net_stack.js';
import type { StackOutput } from './stack_output.js';

const A = { mac: '02:00:00:00:00:0a', ip: '10.0.0.1' };
const R = { mac: '02:00:00:00:00:0f', ip: '10.0.0.15' };
const B = { mac: '02:00:00:00:00:0b', ip: '10.0.0.2' };

/** Three stacks on one L2 segment (a hub): every frame reaches the other two. */
class Hub {
  readonly seen: Array<{ from: string; frame: Buffer }> = [];
  readonly events: Record<string, StackOutput['events']> = {};
  constructor(readonly stacks: Record<string, NetStack>) {
    for (const k of Object.keys(stacks)) this.events[k] = [];
  }
  put(from: string, out: StackOutput): void {
    const queue = out.frames.map((frame) => ({ from, frame }));
    this.events[from]!.push(...out.events);
    for (let q = queue.shift(); q; q = queue.shift()) {
      this.seen.push(q);
      for (const [name, s] of Object.entries(this.stacks)) {
        if (name === q.from) continue;
        const r = s.receive(q.frame, 0);
        this.events[name]!.push(...r.events);
        queue.push(...r.frames.map((frame) => ({ from: name, frame })));
      }
    }
  }
}

describe('IPv4 forwarding and host routes', () => {
  it('sends through the gateway of a host route, and the router passes the packet on with TTL - 1 and a valid checksum', () => {
    const a = new NetStack(A);
    const r = new NetStack({ ...R, ipForward: true });
    const b = new NetStack(B);
    b.bindUdp(9);
    const hub = new Hub({ a, r, b });
    a.addRoute(B.ip, R.ip);
    hub.put('a', a.sendUdp(B.ip, 4000, 9, Buffer.from('via the router'), 0));

    const udp = hub.events.b!.filter((e) => e.kind === 'udp');
    expect(udp).toHaveLength(1);
    expect(udp[0]).toMatchObject({ from: A.ip, dstPort: 9 });
    // A's frame went to the router's MAC; the router's copy to B's, from its own MAC
    const data = hub.seen.filter((s) => decodeEthernet(s.frame).ethertype === 0x0800).map((s) => ({ from: s.from, eth: decodeEthernet(s.frame) }));
    expect(data.map((d) => [d.from, d.eth.src, d.eth.dst])).toEqual([
      ['a', A.mac, R.mac],
      ['r', R.mac, B.mac],
    ]);
    const before = decodeIpv4(data[0]!.eth.payload);
    const after = decodeIpv4(data[1]!.eth.payload);
    expect(after.ttl).toBe(before.ttl - 1);
    expect(internetChecksum(data[1]!.eth.payload, 0, 20)).toBe(0);
    expect([after.src, after.dst]).toEqual([A.ip, B.ip]);
    expect(r.stats().forwarded).toBe(1);
    const fwdFrame = hub.seen.find((s) => s.from === 'r' && decodeEthernet(s.frame).ethertype === 0x0800)!.frame;
    expect(r.isForwarded(fwdFrame)).toBe(true);
    // the router's own ARP reply is its own traffic
    expect(hub.seen.filter((s) => s.from === 'r').some((s) => !r.isForwarded(s.frame))).toBe(true);
  });

  it('peeks which frames it will forward, and without ip_forward drops them as not for us', () => {
    const a = new NetStack(A);
    const plain = new NetStack(R);
    const router = new NetStack({ ...R, ipForward: true });
    a.addRoute(B.ip, R.ip);
    // resolve R first so that the packet itself is emitted
    const hub = new Hub({ a, r: plain });
    hub.put('a', a.ping(R.ip, 1, 0));
    const out = a.sendUdp(B.ip, 4000, 9, Buffer.from('x'), 0);
    const frame = out.frames[0]!;
    expect(router.wouldForward(frame)).toBe(true);
    expect(plain.wouldForward(frame)).toBe(false);
    expect(router.wouldForward(a.ping(R.ip, 2, 0).frames[0]!)).toBe(false); // for the router itself
    expect(plain.receive(frame, 0).events).toEqual([{ kind: 'drop', reason: 'not_for_us' }]);
  });

  it('drops a packet whose TTL runs out instead of forwarding it', () => {
    const router = new NetStack({ ...R, ipForward: true });
    const a = new NetStack(A);
    a.addRoute(B.ip, R.ip);
    const hub = new Hub({ a, r: router });
    hub.put('a', a.ping(R.ip, 1, 0));
    const frame = Buffer.from(a.sendUdp(B.ip, 4000, 9, Buffer.from('x'), 0).frames[0]!);
    frame[14 + 8] = 1;
    frame.writeUInt16BE(0, 14 + 10);
    frame.writeUInt16BE(internetChecksum(frame, 14, 34), 14 + 10);
    expect(router.receive(frame, 0).events).toEqual([{ kind: 'drop', reason: 'ttl_exceeded' }]);
    expect(router.stats().forwarded).toBe(0);
  });

  it('refuses a route that loops back to itself', () => {
    const a = new NetStack(A);
    expect(() => a.addRoute(B.ip, A.ip)).toThrow(expect.objectContaining({ reason: 'bad_argument' }));
    a.addRoute(B.ip, R.ip);
    expect(a.routeEntries()).toEqual([{ dst: B.ip, via: R.ip }]);
    expect(a.deleteRoute(B.ip)).toBe(true);
    expect(a.routeEntries()).toEqual([]);
  });
});
