// What "the lab survived" means: every service process alive and /healthz 200, the services
// that got garbage counted it, no domain appeared, and the lab still moves traffic (pings
// within and across hosts, a UDP bulk whose conservation counters balance).
import * as grpc from '@grpc/grpc-js';
import { control, hypercall, inspect, protection } from '@vnetlab/proto';
import { formatTrace } from '@vnetlab/app-controller';
import { controlClientOptions, grpcClient, unary } from '@vnetlab/runtime';
import { reachable, type LabService, type LabView } from './lab_view.js';

import { alive } from '../src/lab_kit.js';

export { alive };

/** Sum of one metric over its label sets (those carrying `labels`) in a Prometheus text exposition (0 when absent). */
export function metricSum(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (m && m[1] === name && Object.entries(labels).every(([k, v]) => (m[2] ?? '').includes(`${k}="${v}"`))) sum += Number(m[3]);
  }
  return sum;
}

async function fetchText(url: string, timeoutMs = 3000): Promise<{ status: number; text: string }> {
  const r = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  return { status: r.status, text: await r.text() };
}

export interface HealthProblem {
  service: string;
  problem: string;
}

/** Every service's process alive and /healthz 200; the controller alive and its Admin.Health ok. */
export async function health(view: LabView): Promise<HealthProblem[]> {
  const out: HealthProblem[] = [];
  await Promise.all(
    view.lab.services.map(async (s) => {
      if (!alive(s.pid)) return void out.push({ service: s.name, problem: `process ${s.pid} is gone` });
      try {
        const r = await fetchText(`http://127.0.0.1:${s.httpPort}/healthz`);
        if (r.status !== 200) out.push({ service: s.name, problem: `/healthz answered ${r.status}: ${r.text.trim()}` });
      } catch (e) {
        out.push({ service: s.name, problem: `/healthz failed: ${(e as Error).message}` });
      }
    }),
  );
  if (!alive(view.lab.controllerPid)) out.push({ service: 'controller', problem: `process ${view.lab.controllerPid} is gone` });
  else {
    const c = grpcClient(control.AdminClient, view.lab.operatorAddr);
    try {
      const h = await unary<control.HealthResponse>((cb) => c.health({}, operatorMetadata(view), { deadline: Date.now() + 5000 }, cb));
      if (h.status !== 'ok') out.push({ service: 'controller', problem: `Admin.Health says ${h.status}` });
    } catch (e) {
      out.push({ service: 'controller', problem: `Admin.Health failed: ${(e as Error).message}` });
    } finally {
      c.close();
    }
  }
  return out;
}

/** vnetlab_bad_messages_total of every service (of one reason, if given). */
export async function badMessages(services: LabService[], reason?: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  await Promise.all(
    services.map(async (s) => {
      try {
        out.set(s.name, metricSum((await fetchText(s.metricsUrl)).text, 'vnetlab_bad_messages_total', reason === undefined ? undefined : { reason }));
      } catch {
        out.set(s.name, Number.NaN);
      }
    }),
  );
  return out;
}

/** Domains per host (a domain that appeared during the barrage was created by garbage). */
export async function domainCounts(view: LabView): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const s of view.lab.services.filter((x) => x.kind === 'hypervisor')) {
    const c = grpcClient(hypercall.HypervisorClient, s.grpcAddr, controlClientOptions(s.controlToken));
    try {
      const r = await unary<hypercall.ListDomainsResponse>((cb) => c.listDomains({}, new grpc.Metadata(), { deadline: Date.now() + 5000 }, cb));
      out.set(s.host!, r.domains.length);
    } finally {
      c.close();
    }
  }
  return out;
}

/** Switches every host's protection back on (the barrage may have switched it off, as an operator may). */
/** The operator's credential on a call to the operator API. */
export function operatorMetadata(view: LabView): grpc.Metadata {
  const md = new grpc.Metadata();
  if (view.lab.operatorToken) md.set('x-vnetlab-operator-token', view.lab.operatorToken);
  return md;
}

export async function protectionOn(view: LabView): Promise<void> {
  const c = grpcClient(protection.ProtectionClient, view.lab.operatorAddr);
  try {
    for (const h of view.topo.hosts) await unary((cb) => c.setProtection({ host: h.name, on: true }, operatorMetadata(view), { deadline: Date.now() + 10_000 }, cb));
  } finally {
    c.close();
  }
}

export interface PingPair {
  src: string;
  dst: string;
  across: boolean;
}

/** One pair within a host and one across hosts per guest, where the topology has them. */
export function pingPairs(view: LabView): PingPair[] {
  const out: PingPair[] = [];
  for (const g of view.guests) {
    const r = reachable(view, g);
    if (r.within[0]) out.push({ src: g.name, dst: r.within[0], across: false });
    if (r.across[0]) out.push({ src: g.name, dst: r.across[0], across: true });
  }
  return out;
}

export async function ping(view: LabView, pair: PingPair, count: number): Promise<number> {
  return (await pingDetail(view, pair, count)).received;
}

/** A ping's replies, and the operator's error if the ping itself failed. */
export async function pingDetail(view: LabView, pair: PingPair, count: number): Promise<{ received: number; error?: string }> {
  const c = grpcClient(control.OperatorClient, view.lab.operatorAddr);
  try {
    const r = await unary<control.PingResponse>((cb) => c.ping({ src: pair.src, dst: pair.dst, count, size: 56 }, operatorMetadata(view), { deadline: Date.now() + 30_000 }, cb));
    return { received: r.received };
  } catch (e) {
    return { received: 0, error: (e as Error).message };
  } finally {
    c.close();
  }
}

/** Every sample of every service's metrics (histogram buckets left out), one key per service and label set. */
export async function metricSnapshot(services: LabService[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  await Promise.all(
    services.filter((s) => s.metricsUrl).map(async (s) => {
      try {
        for (const line of (await fetchText(s.metricsUrl)).text.split('\n')) {
          const m = /^(vnetlab_\w+)(\{[^}]*\})?\s+(\S+)/.exec(line);
          if (m && !m[1]!.endsWith('_bucket')) out.set(`${s.name} ${m[1]}${m[2] ?? ''}`, Number(m[3]));
        }
      } catch {
        // a service that does not answer shows in the health check
      }
    }),
  );
  return out;
}

/** The samples that moved between two snapshots, one line each (at most `max`). */
export function moved(before: Map<string, number>, after: Map<string, number>, filter: (key: string) => boolean, max = 60): string[] {
  const lines = [...after].filter(([k, v]) => filter(k) && v !== (before.get(k) ?? 0)).map(([k, v]) => `    ${k} ${v - (before.get(k) ?? 0) > 0 ? '+' : ''}${+(v - (before.get(k) ?? 0)).toFixed(3)}`);
  return lines.length > max ? [...lines.slice(0, max), `    … ${lines.length - max} more`] : lines;
}

async function traceOnce(view: LabView, src: string, dst: string): Promise<string> {
  const c = grpcClient(inspect.InspectClient, view.lab.operatorAddr);
  try {
    const r = await unary<inspect.TraceResponse>((cb) => c.trace({ src, dst, proto: 'icmp', timeoutS: 3 }, operatorMetadata(view), { deadline: Date.now() + 20_000 }, cb));
    return formatTrace(src, dst, 'icmp', r);
  } catch (e) {
    return `trace ${src} → ${dst} failed: ${(e as Error).message}`;
  } finally {
    c.close();
  }
}

/**
 * Why a ping failed, for the report: the pair pinged again with every drop counter of the lab
 * read before and after (the counters that moved), and a trace of a probe each way.
 */
export async function diagnosePing(view: LabView, pair: PingPair): Promise<{ recovered: boolean; text: string }> {
  const before = await metricSnapshot(view.lab.services);
  const again = await pingDetail(view, pair, 2);
  const after = await metricSnapshot(view.lab.services);
  const drops = moved(before, after, (k) => /drop/.test(k));
  return { recovered: again.received === 2, text: [
    `  pinged again: ${again.received}/2${again.error ? ` (${again.error})` : ''}`,
    drops.length ? `  drop counters that moved meanwhile:\n${drops.join('\n')}` : '  no drop counter moved meanwhile',
    ...(await Promise.all([traceOnce(view, pair.src, pair.dst), traceOnce(view, pair.dst, pair.src)])).map((t) => t.replace(/^/gm, '    ')),
  ].join('\n') };
}

export interface BulkCheck {
  ok: boolean;
  detail: string;
}

/** A small UDP bulk across hosts: every byte delivered and sent = delivered + dropped, none in flight. */
export async function udpBulk(view: LabView, pair: PingPair, bytes: number): Promise<BulkCheck> {
  const c = grpcClient(control.OperatorClient, view.lab.operatorAddr);
  try {
    const r = await unary<control.BulkResponse>((cb) => c.bulk({ src: pair.src, dst: pair.dst, proto: 'udp', bytes, msgSize: 1000 }, operatorMetadata(view), { deadline: Date.now() + 120_000 }, cb));
    const srcIp = view.guests.find((g) => g.name === pair.src)?.ip;
    const data = r.flows.find((f) => f.flow.startsWith(`udp ${srcIp}:`));
    if (!data) return { ok: false, detail: `no UDP flow in the bulk's counters (${r.flows.map((f) => f.flow).join(', ')})` };
    const dropped = Object.values(data.drops).reduce((a, b) => a + b, 0);
    const balances = data.deliveredFrames + dropped + data.inFlight === data.sentFrames && data.inFlight === 0;
    const reasons = Object.entries(data.drops).map(([k, v]) => `${k} ${v}`).join(', ');
    const detail = `${pair.src} → ${pair.dst}: ${r.bytesDelivered} of ${r.bytesSent} bytes delivered; ${data.flow}: sent ${data.sentFrames} = delivered ${data.deliveredFrames} + dropped ${dropped}${reasons ? ` (${reasons})` : ''} + in flight ${data.inFlight}`;
    return { ok: balances && r.bytesDelivered === r.bytesSent && r.bytesSent === bytes, detail };
  } catch (e) {
    return { ok: false, detail: `bulk ${pair.src} → ${pair.dst} failed: ${(e as Error).message}` };
  } finally {
    c.close();
  }
}
