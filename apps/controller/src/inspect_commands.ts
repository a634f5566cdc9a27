// The CLI's looking-into-the-lab verbs: flows (a host's vswitch flow table), capture (pcap
// of a port), trace (one frame's path, step by step, with what each step cost) and graph
// (the topology, drawn without starting anything).
import { Metadata } from '@grpc/grpc-js';
import { writeFileSync } from 'node:fs';
import { decapVxlan, describeFrame, isVxlanTo, pcapHeader, pcapRecord } from '@vnetlab/frames';
import { inspect } from '@vnetlab/proto';
import { unary } from '@vnetlab/runtime';
import { TopologyError, loadTopology } from '@vnetlab/topology';
import { UsageError, type FlagSpec } from './args.js';
import { GRAPH_FORMATS, graph, type GraphFormat } from './graph.js';
import { requireLab, withOperatorClient } from './lab_client.js';

export interface InspectCommand {
  synopsis: string;
  help: string;
  flags: FlagSpec[];
  run(pos: string[], f: Record<string, unknown>): Promise<number>;
}

type Out = (s: string) => void;


function withInspect<T>(f: Record<string, unknown>, fn: (c: inspect.InspectClient) => Promise<T>): Promise<T> {
  return withOperatorClient(f, inspect.InspectClient, fn);
}

const deadline = (ms: number) => ({ deadline: Date.now() + ms });

/** `-w FILE` / `-o FILE` among the positionals (the parser only knows --flags). */
function takeShort(pos: string[], flag: string): string | undefined {
  const i = pos.indexOf(flag);
  if (i < 0) return undefined;
  const v = pos[i + 1];
  if (v === undefined) throw new UsageError(`${flag} needs a FILE`);
  pos.splice(i, 2);
  return v;
}

const us = (ns: number) => `${(ns / 1000).toFixed(3)} µs`;

/** One line per frame; a VXLAN packet also shows its VNI and inner frame. */
function summary(b: Buffer): string {
  const line = describeFrame(b);
  if (b.length < 64 || b.readUInt16BE(12) !== 0x0800) return line;
  try {
    if (!isVxlanTo(b, b.readUInt32BE(30))) return line;
    const v = decapVxlan(b);
    return `${line} VXLAN vni ${v.vni} [${describeFrame(v.inner)}]`;
  } catch {
    return line;
  }
}

export function inspectCommands(out: Out, json: FlagSpec): Record<string, InspectCommand> {
  return {
    flows: {
      synopsis: 'vnetlab flows add|del|dump HOST [FLOW] [--strict] [--json]',
      help: 'Adds a flow to, deletes flows from, or lists the flow table of HOST\'s vswitch, in ovs-ofctl syntax (docs/vswitch.md); for example: vnetlab flows add host-a "priority=100,in_port=vm-a1,dl_type=0x0800,actions=drop". A guest name stands for its vif in in_port=, output: and mirror:. del without FLOW deletes every flow (the switch then drops everything: add priority=0,actions=normal back).',
      flags: [{ name: 'strict', type: 'boolean', help: 'del: only the flow with exactly this match and priority' }, json],
      run: async (pos, f) => {
        const [op, host, ...rest] = pos;
        if (!op || !['add', 'del', 'dump'].includes(op)) throw new UsageError('flows needs add, del or dump');
        if (!host) throw new UsageError(`flows ${op} needs a HOST`);
        const flow = rest.join(' ');
        if (op === 'add' && flow.trim() === '') throw new UsageError('flows add needs a FLOW');
        return withInspect(f, async (c) => {
          const r = await unary<inspect.FlowsResponse>((cb) => c.flows({ host, op, flow, strict: f.strict === true }, new Metadata(), deadline(20_000), cb));
          if (f.json) out(JSON.stringify(r, null, 2));
          else if (op === 'add') out(`added to ${host}: ${r.canonical}`);
          else if (op === 'del') out(`deleted ${r.changed} flow${r.changed === 1 ? '' : 's'} from ${host}`);
          else out(r.flows.length ? r.flows.join('\n') : `${host}: no flows (every frame is dropped: no_match)`);
          return 0;
        });
      },
    },

    capture: {
      synopsis: 'vnetlab capture PORT -w FILE.pcap [--count N] [--timeout S] [--quiet]',
      help: [
        'Captures the frames at PORT into a pcap file (libpcap, nanosecond timestamps in modelled time) that tcpdump, tshark and Wireshark read. Services copy frames only while the capture runs. Stops after N frames or S seconds.',
        '',
        'PORT is one of:',
        '  GUEST              a guest\'s interface, as its kernel sees it (vm-a1)',
        '  HOST/NIC           a NIC, what it puts on and takes from the wire (host-a/eth0)',
        '  LINK               a link of the topology, every frame entering it (underlay)',
        '  HOST/dom0/PORT     a port of the host\'s driver-domain switch (bridge, vswitch or router), in and out',
        '                     as that port sees them: a vif (host-a/dom0/vif1.0, or host-a/dom0/vm-a1 for the',
        '                     guest\'s vif), the uplink (host-a/dom0/eth0: VXLAN as outer frames), the tunnel port',
        '                     (host-a/dom0/vxlan0: inner frames, after decapsulation and before encapsulation),',
        '                     an emulated NIC\'s tap (tap2), a redirect port (redir-host-b), dom0\'s own (dom0).',
        '                     An unknown port is refused with the host\'s list of ports.',
      ].join('\n'),
      flags: [
        { name: 'write', type: 'string', help: 'the pcap file to write (also -w FILE)' },
        { name: 'count', type: 'number', help: 'stop after this many frames (0: until the timeout)', default: 0 },
        { name: 'timeout', type: 'number', help: 'stop after this many seconds', default: 10 },
        { name: 'quiet', type: 'boolean', help: 'do not list the frames' },
        json,
      ],
      run: async (pos, f) => {
        const file = takeShort(pos, '-w') ?? (f.write as string | undefined);
        if (pos.length !== 1) throw new UsageError('capture needs one PORT');
        if (!file) throw new UsageError('capture needs -w FILE.pcap');
        const count = f.count as number;
        const timeout = f.timeout as number;
        if (!Number.isInteger(count) || count < 0) throw new UsageError(`--count must be a whole number >= 0, got ${count}`);
        if (!(timeout > 0)) throw new UsageError(`--timeout must be > 0 seconds, got ${timeout}`);
        return withInspect(f, async (c) => {
          const r = await unary<inspect.CaptureResponse>((cb) => c.capture({ point: pos[0]!, count, timeoutS: timeout }, new Metadata(), deadline(timeout * 1000 + 30_000), cb));
          const frames = r.frames.map((x) => ({ tNs: x.tNs, bytes: Buffer.from(x.data) }));
          writeFileSync(file, Buffer.concat([pcapHeader(), ...frames.map((x) => pcapRecord(x))]));
          if (f.json) {
            out(JSON.stringify({ point: r.point, kind: r.kind, file, frames: r.frames.map((x) => ({ tNs: x.tNs, direction: x.direction, bytes: x.data.length, service: x.service, summary: summary(Buffer.from(x.data)) })) }, null, 2));
            return 0;
          }
          if (!f.quiet) for (const x of r.frames) out(`${us(x.tNs).padStart(16)}  ${x.direction.padEnd(2)}  ${summary(Buffer.from(x.data))}`);
          out(`${r.frames.length} frame${r.frames.length === 1 ? '' : 's'} captured at ${r.point} (${r.kind}) → ${file}`);
          return 0;
        });
      },
    },

    trace: {
      synopsis: 'vnetlab trace SRC DST [--proto icmp|udp|tcp] [--timeout S] [--json]',
      help: 'Sends one frame from guest SRC to DST (a guest or an IPv4 address) and explains its path component by component — netfront, netback, the switch (its cache hit or miss, the flow that matched, VXLAN encapsulation), the NIC driver, the NIC, the link, and the same in reverse up to the destination — with the modelled time and cost of each step, as ovs-appctl ofproto/trace explains a packet\'s path through one switch. The frame is recognised everywhere by its IPv4 identification (docs/vswitch.md).',
      flags: [
        { name: 'proto', type: 'string', help: 'icmp (echo request), udp (to port 33434) or tcp (SYN to port 5001)', default: 'icmp' },
        { name: 'timeout', type: 'number', help: 'seconds to wait for the last step', default: 10 },
        json,
      ],
      run: async (pos, f) => {
        if (pos.length !== 2) throw new UsageError('trace needs SRC and DST');
        const proto = String(f.proto);
        if (!['icmp', 'udp', 'tcp'].includes(proto)) throw new UsageError(`--proto must be icmp, udp or tcp, got "${proto}"`);
        return withInspect(f, async (c) => {
          const r = await unary<inspect.TraceResponse>((cb) => c.trace({ src: pos[0]!, dst: pos[1]!, proto, timeoutS: f.timeout as number }, new Metadata(), deadline((f.timeout as number) * 1000 + 30_000), cb));
          if (f.json) out(JSON.stringify(r, null, 2));
          else out(formatTrace(pos[0]!, pos[1]!, proto, r));
          return r.delivered ? 0 : 1;
        });
      },
    },

    graph: {
      synopsis: 'vnetlab graph FILE [--format text|dot|svg] [-o OUT]',
      help: 'Draws the topology FILE without starting anything: hosts with their guests (coloured by VNI in SVG), driver domain (bridge or vswitch, VTEP) and NICs, and the links (cables and segments) between them. text is an outline, dot is Graphviz DOT, svg a drawing of its own (no renderer needed).',
      flags: [{ name: 'format', type: 'string', help: 'text, dot or svg', default: 'text' }, { name: 'out', type: 'string', help: 'write to this file instead of stdout (also -o OUT)' }],
      run: async (pos, f) => {
        const file = takeShort(pos, '-o') ?? (f.out as string | undefined);
        if (pos.length !== 1) throw new UsageError('graph needs one topology FILE');
        const format = String(f.format) as GraphFormat;
        if (!GRAPH_FORMATS.includes(format)) throw new UsageError(`--format must be ${GRAPH_FORMATS.join(', ')}, got "${format}"`);
        let t;
        try {
          t = loadTopology(pos[0]!);
        } catch (e) {
          if (e instanceof TopologyError) throw new UsageError(e.message);
          throw e;
        }
        const text = graph(t, format);
        if (file) {
          writeFileSync(file, text.endsWith('\n') ? text : text + '\n');
          out(`wrote ${file} (${format})`);
        } else out(text);
        return 0;
      },
    },
  };
}

/** A trace as ofproto/trace prints one: a block per component, each step with its time and cost. */
export function formatTrace(src: string, dst: string, proto: string, r: inspect.TraceResponse): string {
  const lines: string[] = [];
  lines.push(`trace ${proto} ${src} → ${dst}`);
  if (r.frame) lines.push(`probe: ${r.frame}`);
  if (r.note) lines.push(`note: ${r.note}`);
  const t0 = r.hops.length ? Math.min(...r.hops.map((h) => h.startNs || h.tNs)) : 0;
  let last = '';
  let total = 0;
  r.hops.forEach((h) => {
    const who = `${h.service}${h.host && !h.service.startsWith(h.host) ? ` (${h.host})` : ''}`;
    if (who !== last) {
      lines.push('', who);
      last = who;
    }
    const cost = h.charges.reduce((n, c) => n + c.ns, 0);
    total += cost;
    lines.push(`  +${us(h.tNs - t0).padStart(13)}  ${`${h.component}/${h.step}`.padEnd(24)} ${h.detail}`);
    if (h.flow) lines.push(`${' '.repeat(44)}flow: ${h.flow}`);
    if (h.charges.length) {
      const parts = h.charges.map((c) => `${c.primitive}×${+c.count.toFixed(0)} ${Math.round(c.cycles)} cycles`).join(', ');
      lines.push(`${' '.repeat(44)}cost ${us(cost)}: ${parts}`);
    }
  });
  lines.push('');
  const end = r.hops.length ? Math.max(...r.hops.map((h) => h.tNs)) : t0;
  if (r.delivered) lines.push(`delivered to ${dst}: ${us(end - t0)} modelled from the first step to the last; ${us(total)} of it CPU work charged above`);
  else {
    const drop = [...r.hops].reverse().find((h) => h.step === 'drop' || (h.component !== 'guest' && h.detail.includes('dropped')));
    const reached = [...new Set(r.hops.filter((h) => h.component === 'guest' && h.step === 'not_ours').map((h) => h.service))];
    const why = drop ? `${drop.service} ${drop.component} — ${drop.detail}`
      : reached.length ? `the probe reached ${reached.join(', ')}, which it is not addressed to`
      : r.hops.length ? `the last step seen was ${r.hops[r.hops.length - 1]!.service} ${r.hops[r.hops.length - 1]!.step}` : 'no component saw the probe';
    lines.push(`not delivered to ${dst}: ${why}`);
  }
  return lines.join('\n');
}
