// What the fuzzer knows of a running lab: lab.json, its topology, every domain each hypervisor
// reports (ListDomains gives the domids), the toolstack's domain credentials when the lab has
// them, and the names it may use to address things that exist — or, changed a little, don't.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { hypercall } from '@vnetlab/proto';
import { controlClientOptions, grpcClient, unary } from '@vnetlab/runtime';
import { loadTopology, queueSetPlan, type Host, type Topology } from '@vnetlab/topology';

export interface LabService {
  name: string;
  kind: string;
  host?: string;
  pid?: number;
  httpPort: number;
  grpcAddr: string;
  metricsUrl: string;
  /** The token its gRPC control plane takes (written by vnetlab up). */
  controlToken?: string;
}

export interface LabJson {
  name: string;
  topologyFile: string;
  controllerPid: number;
  operatorAddr: string;
  /** The operator API's credential (written by vnetlab up). */
  operatorToken?: string;
  natsUrl: string;
  services: LabService[];
}

export interface DomainRef {
  domid: number;
  name: string;
  /** Guest frames of the domain (its p2m length). */
  pages: number;
}

export interface LabView {
  dir: string;
  lab: LabJson;
  topo: Topology;
  /** Domains of each host, as its hypervisor lists them. */
  domains: Map<string, DomainRef[]>;
  /** Machine frames of each host's memory. */
  frames: Map<string, number>;
  /** host → {domain name → credential}, when the toolstack issued credentials. */
  credentials: Map<string, Record<string, string>>;
  /** Every guest with its host, NIC, IP and MAC. */
  guests: Array<{ name: string; host: string; nic: string; ip: string; mac: string; arch: string }>;
  /** The controller (operator API) as a service entry. */
  controller: LabService;
  /** NATS user and password with every permission (the controller's), when the lab has NATS users. */
  natsAuth?: { user: string; pass: string };
}

export function readLabJson(dir: string): LabJson {
  return JSON.parse(readFileSync(join(dir, 'lab.json'), 'utf8')) as LabJson;
}

export async function discoverLab(dir: string): Promise<LabView> {
  const lab = readLabJson(dir);
  const topo = loadTopology(lab.topologyFile);
  const domains = new Map<string, DomainRef[]>();
  const frames = new Map<string, number>();
  for (const s of lab.services.filter((x) => x.kind === 'hypervisor')) {
    const c = grpcClient(hypercall.HypervisorClient, s.grpcAddr, controlClientOptions(s.controlToken));
    try {
      const r = await unary<hypercall.ListDomainsResponse>((cb) => c.listDomains({}, cb));
      domains.set(s.host!, r.domains.map((d) => ({ domid: d.domid, name: d.name, pages: d.p2m.length })));
      frames.set(s.host!, r.domains[0]?.memoryFrames ?? 0);
    } finally {
      c.close();
    }
  }
  const credentials = new Map<string, Record<string, string>>();
  for (const h of topo.hosts) {
    const f = join(dir, `credentials-${h.name}.json`);
    if (existsSync(f)) credentials.set(h.name, JSON.parse(readFileSync(f, 'utf8')) as Record<string, string>);
  }
  const guests = topo.hosts.flatMap((h) =>
    h.guests.flatMap((g) => {
      const i = g.interfaces[0];
      return i ? [{ name: g.name, host: h.name, nic: i.nic ?? h.nics[0]?.name ?? '', ip: i.ip, mac: i.mac, arch: i.arch }] : [];
    }),
  );
  // the controller's /metrics: where the lab's Prometheus targets say it is
  const targets = join(dir, 'prometheus', 'targets.json');
  const controllerHttp = existsSync(targets) ? (JSON.parse(readFileSync(targets, 'utf8')) as Array<{ targets: string[]; labels: Record<string, string> }>).find((t) => t.labels.vnetlab_service === 'controller')?.targets[0] : undefined;
  const controller: LabService = { name: 'controller', kind: 'controller', pid: lab.controllerPid, httpPort: controllerHttp ? Number(controllerHttp.split(':').pop()) : 0, grpcAddr: lab.operatorAddr, metricsUrl: controllerHttp ? `http://${controllerHttp}/metrics` : '' };
  // the fuzzer is an insider: it speaks with the controller's NATS user, which may say anything
  const conf = join(dir, 'nats.conf');
  const m = existsSync(conf) ? /user: "controller", password: "([^"]+)"/.exec(readFileSync(conf, 'utf8')) : null;
  return { dir, lab, topo, domains, frames, credentials, guests, controller, ...(m ? { natsAuth: { user: 'controller', pass: m[1]! } } : {}) };
}

export function hostOf(view: LabView, name: string): Host {
  const h = view.topo.hosts.find((x) => x.name === name);
  if (!h) throw new Error(`no host ${name}`);
  return h;
}

/** Queue sets of a NIC (the NIC's own count) and which of them the lab uses. */
export function queueSets(view: LabView, host: string, nic: string): { count: number; used: number[]; passthrough: number[] } {
  const h = hostOf(view, host);
  const spec = h.nics.find((n) => n.name === nic);
  const plan = queueSetPlan(h).filter((q) => q.nic === nic);
  return { count: spec?.queue_sets ?? 1, used: plan.map((q) => q.qs), passthrough: plan.filter((q) => q.arch === 'passthrough').map((q) => q.qs) };
}

/** Guests that an ICMP echo from `g` reaches: same host and NIC, or across the NIC's link. */
export function reachable(view: LabView, g: LabView['guests'][number]): { within: string[]; across: string[] } {
  const at = `${g.host}/${g.nic}`;
  const peers = new Set<string>();
  for (const l of view.topo.links) if (l.ends.includes(at)) for (const e of l.ends) if (e !== at) peers.add(e);
  const others = view.guests.filter((x) => x.name !== g.name);
  return {
    within: others.filter((x) => x.host === g.host && x.nic === g.nic).map((x) => x.name),
    across: others.filter((x) => peers.has(`${x.host}/${x.nic}`)).map((x) => x.name),
  };
}
