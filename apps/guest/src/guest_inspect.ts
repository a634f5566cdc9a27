// What a guest shows of its interface: copies of the frames it sends and receives while a
// capture of the guest is active, the first and last steps of a traced frame (handing the
// probe to its device; receiving it), and the Probe API that sends a trace's frame.
import * as grpc from '@grpc/grpc-js';
import type { Cpu, Ledger, LedgerRow } from '@vnetlab/cost';
import { BROADCAST_MAC, TCP_SYN, buildIcmpEchoFrame, buildTcpFrame, buildUdpFrame, describeFrame } from '@vnetlab/frames';
import type { GuestKernel } from '@vnetlab/guest';
import type { NetStack } from '@vnetlab/netstack';
import { inspect } from '@vnetlab/proto';
import { Taps, type Service } from '@vnetlab/runtime';

/** The ports a probe uses: traceroute's UDP port, the lab's sink port for TCP. */
export const PROBE_UDP_PORT = 33434;
export const PROBE_TCP_PORT = 5001;

export interface GuestInspectOptions {
  name: string;
  mac: string;
  ip: string;
  kernel: GuestKernel;
  stack: NetStack;
  ledger: Ledger;
  cpu: Cpu;
}

/** Builds the probe frame a trace follows: its IPv4 identification is the trace's mark. */
export function probeFrame(proto: string, ends: { srcMac: string; dstMac: string; srcIp: string; dstIp: string }, ipId: number): Buffer {
  const data = Buffer.from('vnetlab trace probe');
  if (proto === 'udp') return buildUdpFrame({ ...ends, srcPort: PROBE_UDP_PORT, dstPort: PROBE_UDP_PORT, payload: data, id: ipId });
  if (proto === 'tcp') return buildTcpFrame({ ...ends, id: ipId, segment: { srcPort: 40000 + (ipId % 20000), dstPort: PROBE_TCP_PORT, seq: ipId * 65536, ack: 0, flags: TCP_SYN, window: 65535, payload: Buffer.alloc(0), mss: 1460 } });
  if (proto === 'icmp') return buildIcmpEchoFrame({ ...ends, id: 0x7ace, seq: ipId & 0xffff, data, ipId });
  throw new Error(`probe protocol must be icmp, udp or tcp, got "${proto}"`);
}

function delta(before: LedgerRow[], ledger: Ledger, hz: number): inspect.TraceCharge[] {
  const key = (r: LedgerRow) => `${r.pcpu}|${r.domain}|${r.primitive}`;
  const prev = new Map(before.map((r) => [key(r), r]));
  const out: inspect.TraceCharge[] = [];
  for (const r of ledger.snapshot()) {
    const p = prev.get(key(r));
    const cycles = r.cycles - (p?.cycles ?? 0);
    if (cycles <= 0) continue;
    const count = r.bytes !== undefined ? r.bytes - (p?.bytes ?? 0) : r.ops - (p?.ops ?? 0);
    out.push({ primitive: r.primitive, count, cycles, ns: (cycles / hz) * 1e9 });
  }
  return out;
}

export async function startGuestInspect(svc: Service, o: GuestInspectOptions): Promise<Taps> {
  const taps = await new Taps(svc, { guest: [o.name] }).start();
  const price = (p: 'virq' | 'netfront_rx' | 'stack_rx') => {
    const cycles = o.ledger.costs.cycles(p, 1);
    return { primitive: p, count: 1, cycles, ns: (cycles / o.cpu.hz) * 1e9 };
  };
  o.kernel.setTap((dir, frame, tNs, startNs) => {
    if (!taps.capturing && !taps.tracing) return;
    taps.capture('guest', o.name, dir, frame, tNs);
    if (dir !== 'rx') return; // the probe's way out is reported by Probe.Send, with what it cost
    for (const { tap, match } of taps.traced(frame)) {
      const ours = tap.dst === o.ip;
      taps.hop(tap, {
        component: 'guest', step: ours ? 'deliver' : 'not_ours', tNs, startNs, frame: describeFrame(frame.subarray(match.offset)),
        charges: [price('virq'), price('netfront_rx'), price('stack_rx')],
        detail: `${o.name}: the virtual interrupt ran netfront, which took ${frame.length} bytes from the RX ring; the stack ${ours ? 'received them' : `dropped them: ${tap.dst} is not its address (${o.ip})`}`,
      });
    }
  });

  const send = async (r: inspect.ProbeRequest): Promise<inspect.ProbeResponse> => {
    await o.kernel.advanceTo(r.atNs);
    const arp = () => o.stack.arpEntries().find((e) => e.ip === r.dst)?.mac;
    // resolve first, as the stack would: the trace follows the probe, not the ARP exchange
    if (!arp()) await o.kernel.ping(r.dst, 1, 8, 1000).catch(() => undefined);
    const dstMac = arp();
    const frame = probeFrame(r.proto || 'icmp', { srcMac: o.mac, dstMac: dstMac ?? BROADCAST_MAC, srcIp: o.ip, dstIp: r.dst }, r.ipId);
    const before = o.ledger.snapshot();
    const sent = await o.kernel.sendFrame(frame);
    const charges = delta(before, o.ledger, o.cpu.hz);
    for (const { tap } of taps.traced(frame)) {
      taps.hop(tap, {
        component: 'guest', step: 'netfront_tx', tNs: sent.tNs, startNs: sent.startNs, charges, frame: describeFrame(frame),
        detail: `${o.name}: the stack handed ${frame.length} bytes to netfront, which granted the page to dom0, queued a TX request and notified the backend (event channel)${dstMac ? '' : '; no ARP answer, so to the broadcast MAC'}`,
      });
    }
    return { frame, tNs: sent.tNs, resolved: dstMac !== undefined };
  };
  svc.addGrpc(inspect.ProbeService, {
    send: (call: grpc.ServerUnaryCall<inspect.ProbeRequest, inspect.ProbeResponse>, cb: grpc.sendUnaryData<inspect.ProbeResponse>) => {
      send(call.request).then(
        (res) => cb(null, res),
        (e) => cb({ code: grpc.status.INVALID_ARGUMENT, details: (e as Error).message } as grpc.ServiceError, null),
      );
    },
  });
  return taps;
}
