#!/usr/bin/env node
// vnetlab: the operator's command line. `up` starts a controller process that runs the lab;
// every other command talks to that controller over the operator API (gRPC).
import { spawn } from 'node:child_process';
import { mkdirSync, openSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { status as grpcStatus } from '@grpc/grpc-js';
import { TopologyError, loadTopology } from '@vnetlab/topology';
import { parseArgs, usage, UsageError, type Command, type FlagSpec } from './args.js';
import { isAlive, labDir, readLab, type LabState } from './labfile.js';
import { requireLab } from './lab_client.js';
import { stopPids } from './launcher.js';
import { OperatorApi } from './operator_client.js';
import { fmtNs, fmtRate, pct, table } from './report.js';
import { cmdRender } from './render/command.js';
import { COMPARE_FLAGS, EXPLAIN_FLAGS, cmdCompare, cmdExplain } from './compare/command.js';
import { inspectCommands } from './inspect_commands.js';
import { protectionCommands } from './protection_commands.js';
import { faultCommands } from './fault_commands.js';
import { migrateCommands } from './migrate_command.js';
import { eventsCommands } from './events_command.js';
import { formatEntry } from './event_log.js';
import { FIDELITY_FLAGS, cmdFidelity } from './fidelity/command.js';
import { NATS_BUCKETS_FLAGS, cmdNatsBuckets } from './nats_buckets.js';

const common: FlagSpec[] = [
  // no default here: labfile.labDir falls back to VNETLAB_HOME, then .vnetlab
  { name: 'lab-dir', type: 'string', help: 'where the running lab keeps its state (default: $VNETLAB_HOME, else .vnetlab)' },
  { name: 'help', type: 'boolean', help: 'show this help' },
];
const json: FlagSpec = { name: 'json', type: 'boolean', help: 'print machine-readable JSON' };

const commands: Record<string, Command> = {
  up: {
    synopsis: 'vnetlab up FILE [--mode process|host] [--timeout S] [--with-prometheus] [--json]',
    help: 'Validates the topology FILE, starts a private nats-server and every service of the lab as local processes, waits until all are healthy and every guest interface is connected, and prints where their metrics are.',
    flags: [
      { name: 'timeout', type: 'number', help: 'seconds to wait for the lab', default: 120 },
      { name: 'mode', type: 'string', help: 'process (each service its own process) or host (one process per host: services keep their NATS/gRPC boundaries and share the host\'s memory and cores, so domains on one core contend)', default: 'process' },
      { name: 'with-prometheus', type: 'boolean', help: 'also start prometheus scraping every service (stopped by down)' },
      { name: 'no-auto-migrate', type: 'boolean', help: 'do not migrate the guests of a host whose NIC failed (by default they go to the host that carries their redirected traffic)' },
      json,
    ],
    run: cmdUp,
  },
  down: {
    synopsis: 'vnetlab down',
    help: 'Stops every process the lab started (services, nats-server, controller) and removes its machine memory.',
    flags: [],
    run: cmdDown,
  },
  status: {
    synopsis: 'vnetlab status [--json]',
    help: 'Lists the services of the running lab, their health, gRPC address and metrics URL.',
    flags: [json],
    run: cmdStatus,
  },
  ping: {
    synopsis: 'vnetlab ping SRC DST [--count N] [--size BYTES] [--json]',
    help: 'Sends ICMP echo requests from guest SRC to guest DST (a name from the topology or an IPv4 address) and prints the modelled round-trip times.',
    flags: [{ name: 'count', type: 'number', help: 'echo requests', default: 3 }, { name: 'size', type: 'number', help: 'ICMP payload bytes', default: 56 }, json],
    run: cmdPing,
  },
  bulk: {
    synopsis: 'vnetlab bulk SRC DST --proto udp|tcp --bytes N [--msg-size BYTES] [--json]',
    help: 'Runs a bulk transfer from guest SRC to guest DST and prints the modelled throughput, latency, CPU utilisation per domain and per physical CPU (including idle and the hypervisor), and the conservation counters of the flow.',
    flags: [
      { name: 'proto', type: 'string', help: 'udp or tcp', default: 'udp' },
      { name: 'bytes', type: 'number', help: 'payload bytes to send', default: 10_000_000 },
      { name: 'msg-size', type: 'number', help: 'payload bytes per datagram (udp)', default: 1472 },
      json,
    ],
    run: cmdBulk,
  },
  render: {
    synopsis: 'vnetlab render compose|k8s FILE [-o DIR] [--image IMAGE] [--secret S]',
    help: 'Writes the files that run the lab of topology FILE under docker compose (default DIR deploy/compose) or on Kubernetes as a kustomize base and overlay (default DIR deploy/kubernetes), with NATS (one user per service, as in a local lab), Prometheus and Grafana. Every NATS password and domain token is derived from the secret, so rendering again gives the same files.',
    flags: [
      { name: 'out', type: 'string', help: 'output directory (also -o DIR)' },
      { name: 'image', type: 'string', help: 'image of the vnetlab services', default: 'vnetlab:latest' },
      { name: 'secret', type: 'string', help: 'secret the NATS passwords and domain tokens are derived from (env VNETLAB_RENDER_SECRET; neither: a public development secret, with a warning)' },
    ],
    run: (pos, f) => cmdRender(pos, f, out, err),
  },
  compare: {
    synopsis: 'vnetlab compare --arch pv,multiqueue[,cdna,...] --guests 1,2,4,8 [--nics N] [--cpus N] [--proto udp|tcp] [--direction tx|rx] [--bytes-per-guest N] [--msg-size B] [--out DIR] [--json]',
    help: 'Compares I/O architectures side by side. For each architecture and guest count it generates a lab (a system under test with that many guests sharing its CPUs and NICs, and a traffic host that is never the bottleneck), brings it up in host mode, runs every guest\'s bulk transfer at the same time, and brings it down. Prints throughput, CPU per domain group (dom0, xen, guests, idle) and cycles per packet by primitive operation; writes DIR/compare.json, DIR/throughput.svg and DIR/cpu.svg. An architecture the lab refuses to start is skipped and reported.',
    flags: COMPARE_FLAGS,
    run: (pos, f) => cmdCompare(pos, f, out, err),
  },
  explain: {
    synopsis: 'vnetlab explain [DIR] [--sources] [--arch A,B] [--json]',
    help: 'Explains a compare run (DIR/compare.json, default compare-out): the cycles the system under test spent per delivered packet, broken down by primitive operation and by who paid them (dom0, xen, guests), per architecture. --sources adds each primitive\'s cost and its published source.',
    flags: EXPLAIN_FLAGS,
    run: (pos, f) => cmdExplain(pos, f, out),
  },
  'nats-buckets': {
    synopsis: 'vnetlab nats-buckets [--nats-url URL] [--nats-user USER] [--wait S]',
    help: 'Creates the lab\'s NATS KV buckets (xenstore, vnetlab-taps) that services may use but not create; run by the compose and Kubernetes deployments before any service starts. Waits for the server, reads the password from VNETLAB_NATS_PASSWORD.',
    flags: NATS_BUCKETS_FLAGS,
    run: (pos, f) => cmdNatsBuckets(pos, f, out),
  },
  validate: {
    synopsis: 'vnetlab validate FILE',
    help: 'Checks a topology file against its schema and the lab\'s rules without starting anything.',
    flags: [json],
    run: cmdValidate,
  },
  // flows, capture, trace, graph
  ...inspectCommands((s) => out(s), json),
  ...protectionCommands((s) => out(s), json),
  ...faultCommands((s) => out(s), json),
  ...migrateCommands((s) => out(s), (s) => err(s), json),
  ...eventsCommands((s) => out(s), (s) => err(s), json),
  fidelity: {
    synopsis: 'vnetlab fidelity [--quick] [--only rixner,native,menon,emmerich] [--out FILE]',
    help: 'Sets up the published configurations (Rixner\'s Xen vs CDNA on two gigabit NICs and one CPU, Xen guest vs native, Menon\'s transmit optimizations each alone and together and his guest receive, Emmerich\'s single-core switch paths with the Linux bridge and Open vSwitch, the cost table\'s measured constants), runs them, and writes docs/fidelity.md: each published figure beside the modelled one, their ratio, and the operations that explain a gap. Progress goes to stderr; the full run takes about half an hour.',
    flags: FIDELITY_FLAGS,
    run: (pos, f) => cmdFidelity(pos, f, out, err),
  },
};

function topUsage(): string {
  const w = Math.max(...Object.keys(commands).map((c) => c.length));
  return [
    'usage: vnetlab COMMAND [options]    (vnetlab COMMAND --help for one command)',
    '',
    'The network I/O path of virtualized servers, run as a real distributed system.',
    '',
    'commands:',
    ...Object.entries(commands).map(([n, c]) => `  ${n.padEnd(w)}  ${c.help.split('. ')[0].replace(/\.$/, '')}`),
  ].join('\n');
}

const out = (s: string) => process.stdout.write(s + '\n');
const err = (s: string) => process.stderr.write(s + '\n');


async function withOperator<T>(f: Record<string, unknown>, fn: (api: OperatorApi, lab: LabState) => Promise<T>): Promise<T> {
  const lab = requireLab(f);
  const api = new OperatorApi(lab.operatorAddr);
  try {
    return await fn(api, lab);
  } finally {
    api.close();
  }
}

function loadOrExplain(file: string) {
  try {
    return loadTopology(file);
  } catch (e) {
    if (e instanceof TopologyError) throw new UsageError(e.message);
    throw e;
  }
}

async function cmdValidate(pos: string[], f: Record<string, unknown>): Promise<number> {
  if (pos.length !== 1) throw new UsageError('validate needs one FILE');
  const t = loadOrExplain(pos[0]);
  const guests = t.hosts.reduce((n, h) => n + h.guests.length, 0);
  if (f.json) out(JSON.stringify(t, null, 2));
  else out(`${pos[0]}: ok — lab "${t.name}", ${t.hosts.length} hosts, ${guests} guests, ${t.links.length} links`);
  return 0;
}

async function cmdUp(pos: string[], f: Record<string, unknown>): Promise<number> {
  if (pos.length !== 1) throw new UsageError('up needs one topology FILE');
  const file = resolve(pos[0]);
  const topo = loadOrExplain(file);
  const dir = labDir(f['lab-dir'] as string);
  const existing = readLab(dir);
  if (existing && isAlive(existing.controllerPid))
    throw new UsageError(`lab "${existing.name}" is already up (controller pid ${existing.controllerPid}); run: vnetlab down`);
  rmSync(join(dir, 'lab.json'), { force: true });
  mkdirSync(join(dir, 'logs'), { recursive: true });
  const log = openSync(join(dir, 'logs', 'controller.log'), 'w');
  const main = fileURLToPath(new URL('./main.js', import.meta.url));
  const mode = String(f.mode);
  if (mode !== 'process' && mode !== 'host') throw new UsageError(`--mode must be process or host, got "${mode}"`);
  const child = spawn(process.execPath, [main, '--topology', file, '--lab-dir', dir, '--mode', mode, ...(f['with-prometheus'] ? ['--with-prometheus'] : []), ...(f['no-auto-migrate'] ? ['--auto-migrate=false'] : [])], { detached: true, stdio: ['ignore', log, log] });
  child.unref();
  const t0 = Date.now();
  const deadline = t0 + (f.timeout as number) * 1000;
  const tty = process.stderr.isTTY;
  let lastLine = '';
  for (;;) {
    await new Promise((r) => setTimeout(r, 25)); // a cheap read of lab.json: start-up is a target (docs/benchmarks.md)
    const lab = readLab(dir);
    const healthy = lab?.services.filter((s) => s.healthy).length ?? 0;
    const total = lab?.services.length ?? 0;
    const line = `starting lab "${topo.name}": ${healthy}/${total || '?'} services ready (${((Date.now() - t0) / 1000).toFixed(1)} s)`;
    if (tty) process.stderr.write(`\r${line}\x1b[K`);
    else if (line.split('(')[0] !== lastLine.split('(')[0]) err(line);
    lastLine = line;
    if (lab?.phase === 'ready') break;
    if (lab?.phase === 'failed' || !isAlive(child.pid)) {
      if (tty) process.stderr.write('\n');
      err(`vnetlab up failed: ${lab?.error ?? 'the controller exited'} (logs in ${join(dir, 'logs')})`);
      return 1;
    }
    if (Date.now() > deadline) {
      if (tty) process.stderr.write('\n');
      err(`vnetlab up: not ready after ${f.timeout} s (logs in ${join(dir, 'logs')}); stopping`);
      await cmdDown([], f);
      return 1;
    }
  }
  if (tty) process.stderr.write('\n');
  const lab = readLab(dir)!;
  if (f.json) {
    out(JSON.stringify(lab, null, 2));
    return 0;
  }
  out(`lab "${lab.name}" is up in ${((lab.readyMs ?? Date.now() - t0) / 1000).toFixed(1)} s — NATS ${lab.natsUrl}, operator ${lab.operatorAddr}`);
  out(statusTable(lab.services.map((s) => ({ ...s, healthy: true }))));
  if (lab.prometheusUrl) out(`Prometheus ${lab.prometheusUrl} (scrapes every service; point a Grafana at it and import deploy/grafana/dashboards)`);
  return 0;
}

async function cmdDown(_pos: string[], f: Record<string, unknown>): Promise<number> {
  const dir = labDir(f['lab-dir'] as string);
  const lab = readLab(dir);
  if (!lab) {
    out('no lab to stop');
    return 0;
  }
  if (isAlive(lab.controllerPid)) {
    const api = new OperatorApi(lab.operatorAddr);
    try {
      await api.shutdown();
    } catch (e) {
      // a deployed lab's operator (deployed_main.ts) refuses: compose or Kubernetes stops it, not us
      if ((e as { code?: number }).code === grpcStatus.FAILED_PRECONDITION) {
        err(`vnetlab down: ${(e as { details?: string }).details}`);
        return 1;
      }
      /* the controller may already be going; the pids below are stopped regardless */
    } finally {
      api.close();
    }
  }
  // Whatever the controller did not stop (it may have died) is stopped here.
  const pids = [...new Set([lab.controllerPid, ...lab.services.map((s) => s.pid ?? 0), lab.natsPid ?? 0, lab.prometheusPid ?? 0])].filter((p) => p > 0);
  await stopPids(pids, 8000);
  const left = pids.filter(isAlive);
  rmSync(lab.memDir, { recursive: true, force: true });
  rmSync(join(dir, 'lab.json'), { force: true });
  if (left.length) {
    err(`processes still alive: ${left.join(' ')}`);
    return 1;
  }
  out(`lab "${lab.name}" is down (${pids.length} processes stopped)`);
  return 0;
}

function statusTable(services: Array<{ name: string; kind: string; host?: string; pid?: number; grpcAddr: string; metricsUrl: string; healthy?: boolean }>): string {
  return table(
    ['service', 'kind', 'host', 'pid', 'health', 'grpc', 'metrics'],
    services.map((s) => [s.name, s.kind, s.host ?? '-', String(s.pid ?? '-'), s.healthy ? 'ok' : 'DOWN', s.grpcAddr, s.metricsUrl]),
  );
}

async function cmdStatus(_pos: string[], f: Record<string, unknown>): Promise<number> {
  return withOperator(f, async (api, lab) => {
    const st = await api.status();
    if (f.json) {
      out(JSON.stringify({ name: lab.name, nats: lab.natsUrl, operator: lab.operatorAddr, services: st.services }, null, 2));
    } else {
      out(`lab "${lab.name}" — NATS ${lab.natsUrl}, operator ${lab.operatorAddr}`);
      out(statusTable(st.services.map((s) => ({ ...s, grpcAddr: s.grpcAddr, metricsUrl: s.metricsUrl }))));
    }
    return st.services.every((s) => s.healthy) ? 0 : 1;
  });
}

async function cmdPing(pos: string[], f: Record<string, unknown>): Promise<number> {
  if (pos.length !== 2) throw new UsageError('ping needs SRC and DST');
  return withOperator(f, async (api) => {
    const r = await api.ping({ src: pos[0], dst: pos[1], count: f.count as number, size: f.size as number });
    if (f.json) out(JSON.stringify(r, null, 2));
    else {
      out(`PING ${pos[0]} → ${pos[1]}: ${f.size} bytes of ICMP payload`);
      for (const p of r.replies) out(p.ok ? `  seq ${p.seq}: rtt ${fmtNs(p.rttNs)} (modelled)` : `  seq ${p.seq}: no reply`);
      const rtts = r.replies.filter((p) => p.ok).map((p) => p.rttNs);
      const loss = r.sent ? ((r.sent - r.received) / r.sent) * 100 : 0;
      out(`${r.sent} sent, ${r.received} received, ${loss.toFixed(0)}% loss` + (rtts.length ? `, rtt min/avg/max ${fmtNs(Math.min(...rtts))}/${fmtNs(rtts.reduce((a, b) => a + b, 0) / rtts.length)}/${fmtNs(Math.max(...rtts))}` : ''));
    }
    return r.received === r.sent ? 0 : 1;
  });
}

async function cmdBulk(pos: string[], f: Record<string, unknown>): Promise<number> {
  if (pos.length !== 2) throw new UsageError('bulk needs SRC and DST');
  const proto = f.proto as string;
  if (proto !== 'udp' && proto !== 'tcp') throw new UsageError(`--proto must be udp or tcp, got "${proto}"`);
  return withOperator(f, async (api) => {
    if (!f.json) err(`bulk ${proto} ${pos[0]} → ${pos[1]}: ${f.bytes} bytes …`);
    const r = await api.bulk({ src: pos[0], dst: pos[1], proto, bytes: f.bytes as number, msgSize: f['msg-size'] as number });
    if (f.json) {
      out(JSON.stringify(r, null, 2));
      return 0;
    }
    const dur = r.endNs - r.startNs;
    out(`${proto.toUpperCase()} ${pos[0]} → ${pos[1]}: ${r.bytesDelivered} of ${r.bytesSent} payload bytes delivered in ${fmtNs(dur)} modelled`);
    out(`throughput ${fmtRate(r.throughputBps)} (modelled), first-frame latency (under load) ${fmtNs(r.latencyNs)}`);
    if (r.wallS > 0) out(`the lab took ${r.wallS.toFixed(2)} s of wall time: ${(dur / 1e9 / r.wallS).toFixed(3)} modelled s per wall s`);
    out('');
    const byDomain = new Map<string, number>();
    for (const c of r.cpus) if (c.domain !== 'idle') byDomain.set(`${c.host}|${c.domain}`, (byDomain.get(`${c.host}|${c.domain}`) ?? 0) + c.util);
    out('CPU per domain (share of one CPU over the run):');
    out(table(['host', 'domain', 'cpu'], [...byDomain.entries()].filter(([, u]) => u > 0).map(([k, u]) => [...k.split('|'), pct(u)])));
    out('');
    out('CPU per physical CPU:');
    const cpus = new Map<string, Record<string, number>>();
    for (const c of r.cpus) {
      const k = `${c.host}|${c.pcpu}`;
      const m = cpus.get(k) ?? {};
      m[c.domain] = (m[c.domain] ?? 0) + c.util;
      cpus.set(k, m);
    }
    out(table(['host', 'pcpu', 'busy', 'xen', 'idle', 'domains'], [...cpus.entries()].map(([k, m]) => {
      const busy = Object.entries(m).filter(([d]) => d !== 'idle').reduce((a, [, u]) => a + u, 0);
      const doms = Object.entries(m).filter(([d, u]) => d !== 'idle' && d !== 'xen' && u > 0).map(([d, u]) => `${d} ${pct(u)}`).join(', ');
      return [...k.split('|'), pct(busy), pct(m.xen ?? 0), pct(m.idle ?? Math.max(0, 1 - busy)), doms || '-'];
    })));
    out('');
    out('Conservation (frames): sent = delivered + dropped + in flight');
    out(table(['flow', 'sent', 'delivered', 'dropped', 'in flight', 'drops by reason'], r.flows.map((fl) => {
      const dropped = Object.values(fl.drops).reduce((a, b) => a + b, 0);
      return [fl.flow, fl.sentFrames, fl.deliveredFrames, dropped, fl.inFlight, Object.entries(fl.drops).map(([k, v]) => `${k}=${v}`).join(' ') || '-'];
    })));
    for (const fl of r.flows.filter((x) => x.lostWith.length > 0)) {
      out(`${fl.flow}: ${fl.inFlight} frames not accounted for: lost with ${fl.lostWith.join(', ')} during the transfer (what it held when it went)`);
    }
    if (r.events.length > 0) {
      out('');
      out('While it ran (vnetlab events for the whole timeline):');
      for (const e of r.events) out(`  ${formatEntry(e)}`);
    }
    return 0;
  });
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    out(topUsage());
    return name ? 0 : 2;
  }
  const cmd = commands[name];
  if (!cmd) {
    err(`vnetlab: unknown command "${name}"\n\n${topUsage()}`);
    return 2;
  }
  const specs = [...cmd.flags, ...common];
  try {
    const { positionals, flags } = parseArgs(rest, specs);
    if (flags.help) {
      out(usage(cmd.synopsis, cmd.help, specs));
      return 0;
    }
    return await cmd.run(positionals, flags);
  } catch (e) {
    if (e instanceof UsageError) {
      err(`vnetlab ${name}: ${e.message}`);
      return 2;
    }
    err(`vnetlab ${name}: ${(e as Error).message}`);
    return 1;
  }
}

main(process.argv.slice(2)).then((code) => process.exit(code));
