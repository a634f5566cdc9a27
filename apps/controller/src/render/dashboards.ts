// The Grafana dashboards, built here so that the checked-in JSON (deploy/grafana/dashboards),
// the compose files and the Kubernetes ConfigMap are one thing. Every rate is a *modelled*
// rate: the counter's rate divided by the rate of the host's modelled clock
// (conventions.md), so a panel shows frames or cycles per modelled second whatever the wall
// clock speed of the machine running the lab.

export interface Target { expr: string; legendFormat: string; refId: string }
export interface Panel {
  id: number;
  type: 'timeseries' | 'state-timeline' | 'stat' | 'text';
  title: string;
  description: string;
  gridPos: { h: number; w: number; x: number; y: number };
  datasource?: { type: 'prometheus'; uid: string };
  targets?: Target[];
  fieldConfig?: { defaults: { unit: string }; overrides: [] };
  options?: Record<string, unknown>;
}
export interface Dashboard {
  uid: string;
  title: string;
  description: string;
  tags: string[];
  schemaVersion: number;
  version: number;
  editable: boolean;
  time: { from: string; to: string };
  refresh: string;
  timezone: string;
  templating: { list: Array<Record<string, unknown>> };
  annotations: { list: [] };
  panels: Panel[];
}

const DS = { type: 'prometheus' as const, uid: '${datasource}' };

/** sum by (`by`) of the modelled rate of `metric{sel}`: per modelled second of its host. */
export function modelledRate(metric: string, by: string, sel = '', scale = ''): string {
  return `sum by (${by}) (rate(${metric}${sel}[1m])${scale} / on (host) group_left max by (host) (rate(vnetlab_modelled_time_seconds[1m])))`;
}

/** A quantile of the guests' modelled round trips over the last minute, by architecture and protocol. */
export function rttQuantile(q: number): string {
  return `histogram_quantile(${q}, sum by (le, arch, proto) (rate(vnetlab_rtt_seconds_bucket[1m])))`;
}

class Layout {
  private panels: Panel[] = [];
  private x = 0;
  private y = 0;
  private rowH = 0;

  add(p: Omit<Panel, 'id' | 'gridPos' | 'datasource'> & { w?: number; h?: number }): this {
    const w = p.w ?? 12;
    const h = p.h ?? 8;
    if (this.x + w > 24) {
      this.x = 0;
      this.y += this.rowH;
      this.rowH = 0;
    }
    const { w: _w, h: _h, ...rest } = p;
    const panel: Panel = { id: this.panels.length + 1, gridPos: { h, w, x: this.x, y: this.y }, ...rest };
    if (p.type !== 'text') panel.datasource = DS;
    this.panels.push(panel);
    this.x += w;
    this.rowH = Math.max(this.rowH, h);
    return this;
  }

  series(title: string, description: string, unit: string, targets: Array<[expr: string, legend: string]>, w?: number): this {
    return this.add({
      type: 'timeseries',
      title,
      description,
      w,
      targets: targets.map(([expr, legendFormat], i) => ({ expr, legendFormat, refId: String.fromCharCode(65 + i) })),
      fieldConfig: { defaults: { unit }, overrides: [] },
      options: { legend: { displayMode: 'table', placement: 'right', calcs: ['lastNotNull', 'max'] }, tooltip: { mode: 'multi', sort: 'desc' } },
    });
  }

  /** A gauge of phases drawn as coloured bands, one row per series: the phases on a timeline. */
  timeline(title: string, description: string, target: [expr: string, legend: string], w?: number): this {
    const [expr, legendFormat] = target;
    return this.add({
      type: 'state-timeline',
      title,
      description,
      w,
      targets: [{ expr, legendFormat, refId: 'A' }],
      fieldConfig: { defaults: { unit: 'none' }, overrides: [] },
      options: { mergeValues: true, showValue: 'auto', rowHeight: 0.8, legend: { displayMode: 'list', placement: 'bottom' } },
    });
  }

  done(): Panel[] {
    return this.panels;
  }
}

function dashboard(uid: string, title: string, description: string, panels: Panel[], extraVars: Array<Record<string, unknown>> = []): Dashboard {
  return {
    uid,
    title,
    description,
    tags: ['vnetlab'],
    schemaVersion: 39,
    version: 1,
    editable: true,
    time: { from: 'now-15m', to: 'now' },
    refresh: '10s',
    timezone: 'browser',
    templating: {
      list: [
        { name: 'datasource', label: 'Prometheus', type: 'datasource', query: 'prometheus', hide: 0 },
        ...extraVars,
      ],
    },
    annotations: { list: [] },
    panels,
  };
}

const CPU_HELP = 'Modelled CPU cycles per modelled second (divide by the clock rate of the host for utilisation), from the cost ledgers of every service';

function overview(): Dashboard {
  const p = new Layout()
    .series('Throughput per architecture (modelled)', 'Bits delivered up the guests\' stacks per modelled second, summed over the guests of each I/O architecture (emulated, pv, multiqueue, cdna, passthrough, native)', 'bps', [[modelledRate('vnetlab_guest_rx_bytes_total', 'arch', '', ' * 8'), '{{arch}}']])
    .series('Throughput per link (modelled)', 'Bits on each fabric link per modelled second', 'bps', [[modelledRate('vnetlab_link_bytes_total', 'link', '', ' * 8'), '{{link}}']])
    .series('Frames delivered per flow (modelled)', 'Frames of each flow delivered to its destination guest per modelled second', 'pps', [[modelledRate('vnetlab_flow_delivered_frames_total', 'flow'), '{{flow}}']])
    .series('CPU per domain', CPU_HELP, 'hertz', [[modelledRate('vnetlab_cpu_cycles_total', 'host, domain'), '{{host}} {{domain}}']])
    .series('CPU per physical CPU', CPU_HELP + '; xen is the hypervisor\'s share', 'hertz', [[modelledRate('vnetlab_cpu_cycles_total', 'host, pcpu'), '{{host}} {{pcpu}}']])
    .series('NIC frames (modelled)', 'Frames each host\'s NICs put on and took off the wire per modelled second', 'pps', [
      [modelledRate('vnetlab_nic_tx_frames_total', 'host'), '{{host}} tx'],
      [modelledRate('vnetlab_nic_rx_frames_total', 'host'), '{{host}} rx'],
    ])
    .series('Drops by reason (modelled)', 'Frames dropped per modelled second, by reason: flows (every component), NICs and links. Empty while nothing is dropped.', 'pps', [
      [modelledRate('vnetlab_flow_drops_total', 'reason'), 'flow {{reason}}'],
      [modelledRate('vnetlab_nic_drops_total', 'reason'), 'nic {{reason}}'],
      [modelledRate('vnetlab_link_drops_total', 'reason'), 'link {{reason}}'],
    ])
    .series('Modelled seconds per wall second', 'How fast modelled time runs on this machine (the real-time factor), per service', 'none', [['max by (service) (rate(vnetlab_modelled_time_seconds[1m]))', '{{service}}']])
    .series('Bad messages', 'Messages a service refused (undecodable, out of range, unknown port), by reason. Empty while every message is well-formed.', 'short', [['sum by (service, reason) (vnetlab_bad_messages_total)', '{{service}} {{reason}}']])
    .series('Round trip (modelled)', 'Median and 99th percentile of the round trips the guests measured in the last minute, in modelled seconds, by I/O architecture: ICMP echo (ping) and TCP\'s own samples. A quantile is a ratio of rates, so the wall clock cancels out.', 's', [
      [rttQuantile(0.5), 'p50 {{arch}} {{proto}}'],
      [rttQuantile(0.99), 'p99 {{arch}} {{proto}}'],
    ], 24)
    .done();
  return dashboard('vnetlab-overview', 'vnetlab / Overview', 'Modelled throughput, CPU per domain and per physical CPU, drops by reason, for the whole lab', p);
}

function host(): Dashboard {
  const h = '{host="$host"}';
  const p = new Layout()
    .series('CPU per domain', CPU_HELP, 'hertz', [[modelledRate('vnetlab_cpu_cycles_total', 'domain', h), '{{domain}}']])
    .series('CPU per physical CPU and domain', CPU_HELP, 'hertz', [[modelledRate('vnetlab_cpu_cycles_total', 'pcpu, domain', h), '{{pcpu}} {{domain}}']])
    .series('Cycles by primitive', 'Where the cycles go: hypercall, grant copy, page flip, byte copied, interrupt, … per modelled second', 'hertz', [[modelledRate('vnetlab_cpu_cycles_total', 'primitive', h), '{{primitive}}']])
    .series('Hypercalls (modelled)', 'Hypercalls the hypervisor served per modelled second, by operation and result', 'ops', [[modelledRate('vnetlab_hypercalls_total', 'op, result', h), '{{op}} {{result}}']])
    .series('Virtual interrupts (modelled)', 'Event-channel upcalls delivered per modelled second, by domain', 'ops', [[modelledRate('vnetlab_virq_delivered_total', 'domain', h), '{{domain}}']])
    .series('Physical interrupts (modelled)', 'Interrupts the NICs raised and the hypervisor received, per modelled second', 'ops', [
      [modelledRate('vnetlab_nic_interrupts_total', 'service', h), '{{service}} raised'],
      [modelledRate('vnetlab_pirq_total', 'result', h), 'hypervisor {{result}}'],
    ])
    .series('NIC frames (modelled)', 'Frames per modelled second on each NIC of the host', 'pps', [
      [modelledRate('vnetlab_nic_tx_frames_total', 'service', h), '{{service}} tx'],
      [modelledRate('vnetlab_nic_rx_frames_total', 'service', h), '{{service}} rx'],
    ])
    .series('NIC drops (modelled)', 'Frames the NICs dropped per modelled second, by reason. Empty while nothing is dropped.', 'pps', [[modelledRate('vnetlab_nic_drops_total', 'nic, reason', h), '{{nic}} {{reason}}']])
    .done();
  const hostVar = {
    name: 'host', label: 'host', type: 'query', datasource: DS, query: 'label_values(vnetlab_cpu_cycles_total, host)',
    refresh: 2, sort: 1, hide: 0,
  };
  return dashboard('vnetlab-host', 'vnetlab / Host', 'One host: CPU per domain and physical CPU, cycles by primitive, hypercalls, interrupts, NICs', p, [hostVar]);
}

function protection(): Dashboard {
  const p = new Layout()
    .series('Protection violations by kind', 'Operations the hypervisor refused (a grant of a page the domain does not own, a bad gref, …), by kind. Empty while every domain behaves.', 'short', [['sum by (kind) (vnetlab_protection_violations_total)', '{{kind}}']])
    .series('Protection violations by domain', 'The same refusals by the domain that attempted them', 'short', [['sum by (host, domain) (vnetlab_protection_violations_total)', '{{host}} {{domain}}']])
    .series('Hypercalls refused (modelled)', 'Hypercalls answered with an error per modelled second, by operation', 'ops', [[modelledRate('vnetlab_hypercalls_total', 'host, op', '{result="error"}'), '{{host}} {{op}}']])
    .series('Bad messages by reason', 'Malformed or hostile messages each service refused and kept serving', 'short', [['sum by (service, reason) (vnetlab_bad_messages_total)', '{{service}} {{reason}}']])
    .done();
  return dashboard('vnetlab-protection', 'vnetlab / Protection', 'What the hypervisor refused, by kind and domain, and the bad input every service refused', p);
}

function failures(): Dashboard {
  const p = new Layout()
    .timeline('NIC health', 'Each NIC as its driver domain\'s fault agent sees it, on a timeline: 0 working, 1 failed with its I/O held, 2 failed with its I/O redirected through another host', ['max by (host, nic) (vnetlab_nic_health)', '{{host}} {{nic}}'])
    .series('Fault phases', 'Phases the fault agents went through (detected, held, redirected, restored), by NIC: each step shows as a rise. Empty until a NIC fails.', 'short', [['sum by (host, nic, phase) (vnetlab_fault_phases_total)', '{{host}} {{nic}} {{phase}}']])
    .series('Redirected frames (modelled)', 'Frames carried between driver domains while a NIC was down, per modelled second (out: to the other host, in: from it)', 'pps', [[modelledRate('vnetlab_redirected_frames_total', 'host, direction'), '{{host}} {{direction}}']])
    .series('Frames held', 'Frames waiting for a NIC whose link is down (held, not dropped)', 'short', [['sum by (host) (vnetlab_fault_held_frames)', '{{host}}']])
    .timeline('Migration phase', 'Each domain leaving a host, on a timeline: 0 none, 1 pre-copy, 2 stop-and-copy, 3 resumed on the target. Empty until a guest migrates.', ['max by (host, domain) (vnetlab_migration_phase)', '{{host}} {{domain}}'])
    .series('Migration downtime (modelled)', 'Modelled time each domain\'s last migration kept it suspended (stop-and-copy to running on the target)', 's', [['max by (domain) (vnetlab_migration_downtime_seconds)', '{{domain}}']])
    .series('Pages sent per pre-copy round', 'Pages of each domain sent in each round of its migration; a round that sends fewer pages than the one before is converging', 'short', [['sum by (domain, round) (vnetlab_migration_pages_total)', '{{domain}} round {{round}}']])
    .series('Migrations and cut links', 'Migrations by result, and fabric links cut or mended', 'short', [
      ['sum by (result) (vnetlab_migrations_total)', 'migrations {{result}}'],
      ['sum by (link, state) (vnetlab_link_cuts_total)', '{{link}} {{state}}'],
    ])
    .series('NATS reconnections', 'Reconnections of each service to the NATS server (a restarted server shows on every service)', 'short', [['sum by (service) (vnetlab_nats_reconnects_total)', '{{service}}']], 24)
    .done();
  return dashboard('vnetlab-failures', 'vnetlab / Failures and migration', 'NIC failures as the fault agents handle them (held, redirected, restored), live migrations (phases, pages per round, downtime), cut links and NATS reconnections, on one timeline', p);
}

function vswitch(): Dashboard {
  const p = new Layout()
    .series('Cache hit rate', 'Share of frames the vswitch decided in its exact-match cache (the fast path) rather than on the slow path (the flow table)', 'percentunit', [[`${modelledRate('vnetlab_vswitch_cache_total', 'host', '{result="hit"}')} / ${modelledRate('vnetlab_vswitch_cache_total', 'host')}`, '{{host}}']])
    .series('Cache hits and misses (modelled)', 'Frames decided by the cache (hit) or the classifier (miss) per modelled second', 'pps', [[modelledRate('vnetlab_vswitch_cache_total', 'host, result'), '{{host}} {{result}}']])
    .series('Flows', 'Flows in each vswitch\'s flow table', 'short', [['sum by (host) (vnetlab_vswitch_flows)', '{{host}}']])
    .series('Frames per port (modelled)', 'Frames received (rx) and sent (tx) on each vswitch port per modelled second; a tunnel port counts outer frames', 'pps', [[modelledRate('vnetlab_vswitch_port_frames_total', 'host, port, direction'), '{{host}} {{port}} {{direction}}']])
    .series('vswitch drops by reason (modelled)', 'Frames the vswitch dropped per modelled second (no flow, VNI mismatch, MTU, …)', 'pps', [[modelledRate('vnetlab_vswitch_drops_total', 'host, reason'), '{{host}} {{reason}}']], 24)
    .done();
  return dashboard('vnetlab-vswitch', 'vnetlab / Open vSwitch', 'The driver domains\' Open vSwitch: cache hit rate (fast path and slow path), flows, per-port counters, drops', p);
}

/** file name → dashboard */
export function dashboards(): Record<string, Dashboard> {
  return { 'overview.json': overview(), 'host.json': host(), 'protection.json': protection(), 'failures.json': failures(), 'vswitch.json': vswitch() };
}

export const dashboardJson = (d: Dashboard) => JSON.stringify(d, null, 2) + '\n';
