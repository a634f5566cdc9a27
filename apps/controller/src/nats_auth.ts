// Who may say what on the lab's bus: one NATS user per service, with publish and subscribe
// permissions for exactly the signals that component sends and receives. A guest can reach
// only its own subjects — its event channel, its ioreqs, its own xenstore directory — never
// another guest's, the operator's, or the hypervisor's. Written into the private
// nats-server's configuration by the controller.
import { randomBytes } from 'node:crypto';
import type { Topology } from '@vnetlab/topology';
import { queueSetPlan } from '@vnetlab/topology';
import type { ServicePlan } from './plan.js';

export interface NatsUser {
  user: string;
  password: string;
  publish: string[];
  subscribe: string[];
}

const XENSTORE = 'xenstore';
const TAPS = 'vnetlab-taps';

/** The JetStream API a KV client needs to read (watch, get) the keys under `filters`. */
function kvRead(bucket: string, filters: string[]): string[] {
  return [
    '$JS.API.INFO',
    `$JS.API.STREAM.INFO.KV_${bucket}`,
    ...filters.flatMap((f) => [`$JS.API.CONSUMER.CREATE.KV_${bucket}.*.$KV.${bucket}.${f}`, `$JS.API.DIRECT.GET.KV_${bucket}.$KV.${bucket}.${f}`]),
    `$JS.API.CONSUMER.DELETE.KV_${bucket}.>`,
    `$JS.API.CONSUMER.INFO.KV_${bucket}.>`,
    `$JS.API.STREAM.MSG.GET.KV_${bucket}`,
    `$JS.FC.KV_${bucket}.>`,
  ];
}

/** Writes to the keys under `prefixes` (a KV put is a publish on $KV.<bucket>.<key>). */
const kvWrite = (bucket: string, prefixes: string[]) => prefixes.map((p) => `$KV.${bucket}.${p}`);

/** A user name that is also a valid inbox token (inbox prefixes keep replies private). */
export const natsUserName = (service: string) => service.replace(/[^A-Za-z0-9_-]/g, '_');

/** The hypervisor's domain ids: dom0 is 0, a host's guests follow in topology order (-1: not a guest of that host). */
export function domidInTopology(topo: Topology): (host: string, name: string) => number {
  return (h, name) => (topo.hosts.find((x) => x.name === h)?.guests.findIndex((g) => g.name === name) ?? -1) + 1;
}

/** A fresh random password (the local lab's: a new one for every lab). */
export const randomPassword = (): string => randomBytes(12).toString('hex');

/**
 * Every service's permissions; `domid` gives the lab's domain ids by host and domain name,
 * `password(user)` each user's password (random unless a renderer derives them from its secret).
 */
export function natsUsers(
  topo: Topology,
  services: ServicePlan[],
  domid: (host: string, name: string) => number = domidInTopology(topo),
  password: (user: string) => string = randomPassword,
): NatsUser[] {
  const common = (user: string) => ({
    pub: ['lab.events', 'capture.>', 'trace.>', ...kvRead(TAPS, ['>'])],
    sub: [`_INBOX_${user}.>`],
  });
  const users: NatsUser[] = [];
  for (const s of services) {
    const user = natsUserName(s.name);
    const c = common(user);
    const h = s.host ?? '';
    let pub: string[] = [];
    let sub: string[] = [];
    switch (s.kind) {
      case 'fabric':
        // a cut cable takes the carrier of the NICs at its ends
        pub = ['nic.*.*.rx', 'nic.*.*.fault'];
        sub = ['fabric.*.*.tx', 'fabric.fault'];
        break;
      case 'hypervisor':
        pub = [`evtchn.${h}.*`, `nic.${h}.*.iommu`, `nic.${h}.*.config`, `migration.${h}`];
        sub = [`pirq.${h}`, `protection.${h}`, `fault.${h}`];
        break;
      case 'nic': {
        const nic = s.args[s.args.indexOf('--nic') + 1];
        pub = [`fabric.${h}.${nic}.tx`, `pirq.${h}`, `nic.${h}.${nic}.link`, `nic.${h}.${nic}.dma`];
        sub = [`nic.${h}.${nic}.>`, `protection.${h}`];
        break;
      }
      case 'driver-domain':
        pub = [`nic.${h}.*.doorbell`, `nic.${h}.*.config`, ...kvRead(XENSTORE, [`${h}.>`]), ...kvWrite(XENSTORE, [`${h}.local.domain.0.>`])];
        sub = [`evtchn.${h}.0`, `ioreq.${h}.*`, `protection.${h}`, `nic.${h}.*.link`, `dom0.${h}.redirect`, `dom0.${h}.redirect.*.frames`];
        // the fault agent: tells its hypervisor, asks another host's driver domain to carry its guests, and the frames both ways
        pub.push(`fault.${h}`, 'dom0.*.redirect', `dom0.*.redirect.${h}.frames`);
        break;
      case 'guest': {
        const p = guestPermissions(topo, s.name, h, domid(h, s.name));
        pub = p.publish;
        sub = p.subscribe;
        break;
      }
    }
    users.push({ user, password: password(user), publish: [...pub, ...c.pub], subscribe: [...sub, ...c.sub] });
  }
  return users;
}

/**
 * A guest's own subjects while it runs on `h` as domain `id`: its ioreqs, its xenstore
 * directory and its backend's, and its event channel. A migrated guest gets those of its new
 * host and domid, and loses the old ones.
 */
export function guestPermissions(topo: Topology, name: string, h: string, id: number): { publish: string[]; subscribe: string[] } {
  const host = topo.hosts.find((x) => x.name === h);
  const publish = [
    `ioreq.${h}.${id}`,
    ...kvRead(XENSTORE, [`${h}.local.domain.${id}.>`, `${h}.local.domain.0.backend.vif.${id}.>`]),
    ...kvWrite(XENSTORE, [`${h}.local.domain.${id}.>`]),
  ];
  // a guest that drives a NIC queue set itself rings that NIC's doorbell (and, unless
  // the hypervisor programs it, configures its queue set)
  const q = host ? queueSetPlan(host).find((x) => x.guest === name && (x.arch === 'cdna' || x.arch === 'passthrough' || x.arch === 'native')) : undefined;
  if (q) publish.push(`nic.${h}.${q.nic}.doorbell`, ...(q.arch === 'cdna' ? [] : [`nic.${h}.${q.nic}.config`]));
  return { publish, subscribe: [`evtchn.${h}.${id}`] };
}

/**
 * The nats-server configuration: the controller may do anything, every service only its part.
 * `jetstreamDir`: JetStream enabled here rather than by flags, so that a reload keeps it.
 */
export function natsConfig(users: NatsUser[], controller: { user: string; password: string }, jetstreamDir?: string): string {
  const q = (s: string) => JSON.stringify(s);
  const list = (xs: string[]) => `[${xs.map(q).join(', ')}]`;
  return [
    '# written by the vnetlab controller: one user per service, each with its own subjects',
    'authorization {',
    '  users = [',
    `    { user: ${q(controller.user)}, password: ${q(controller.password)}, permissions: { publish: ">", subscribe: ">" } }`,
    ...users.map(
      (u) => `    { user: ${q(u.user)}, password: ${q(u.password)}, permissions: { publish: { allow: ${list(u.publish)} }, subscribe: { allow: ${list(u.subscribe)} }, allow_responses: true } }`,
    ),
    '  ]',
    '}',
    ...(jetstreamDir ? [`jetstream { store_dir: ${q(jetstreamDir)} }`] : []),
    '',
  ].join('\n');
}
