// The credentials of a rendered lab: the same NATS users and permissions as a local lab
// (nats_auth.ts), the same per-domain hypercall credentials and per-service control tokens
// (libs/runtime control_auth.ts), but derived from a render
// secret rather than drawn at random, so that rendering twice gives the same files.
import { createHmac } from 'node:crypto';
import type { Topology } from '@vnetlab/topology';
import { natsConfig, natsUserName, natsUsers, type NatsUser } from '../nats_auth.js';
import { planLab } from '../plan.js';
import type { ContainerService } from './container_layout.js';

/** Used when neither --secret nor VNETLAB_RENDER_SECRET is given: public, for a lab on your own machine only. */
export const DEV_RENDER_SECRET = 'vnetlab-insecure-development-secret';

/** Where a hypervisor container finds its host's domain credentials (JSON {domain: token}). */
export const CREDENTIALS_DIR = '/etc/vnetlab-credentials';
export const DOMAIN_TOKENS_PATH = `${CREDENTIALS_DIR}/domain-tokens.json`;

/** The NATS user of the one-shot bucket creation: the controller's, as in a local lab. */
export const CONTROLLER_USER = 'controller';

export class RenderSecretError extends Error {
  constructor(readonly reason: 'empty_secret', message: string) {
    super(message);
    this.name = 'RenderSecretError';
  }
}

/** HMAC-SHA256(secret, purpose), hex: one credential, independent of every other one. */
export function deriveCredential(secret: string, purpose: string, hexChars = 32): string {
  return createHmac('sha256', secret).update(purpose).digest('hex').slice(0, hexChars);
}

export interface LabCredentials {
  /** Whether they come from DEV_RENDER_SECRET (the rendered files say so). */
  development: boolean;
  controller: { user: string; password: string };
  users: NatsUser[];
  /** The nats-server configuration (natsConfig of the users above). */
  natsConf: string;
  /** host → {domain name ("dom0" for the driver domain): token}, the hypervisor's file. */
  domainTokens: Map<string, Record<string, string>>;
  /** service name → the token its gRPC control plane takes (VNETLAB_CONTROL_TOKEN). */
  controlTokens: Map<string, string>;
}

export function labCredentials(topo: Topology, secret: string | undefined): LabCredentials {
  if (secret === '') throw new RenderSecretError('empty_secret', 'the render secret is empty; give a real one or none (the development secret)');
  const s = secret ?? DEV_RENDER_SECRET;
  const password = (user: string) => deriveCredential(s, `nats-password:${user}`, 24);
  const users = natsUsers(topo, planLab(topo).services, undefined, password);
  const controller = { user: CONTROLLER_USER, password: password(CONTROLLER_USER) };
  const domainTokens = new Map<string, Record<string, string>>();
  for (const h of topo.hosts) {
    const c: Record<string, string> = { dom0: deriveCredential(s, `domain-token:${h.name}/dom0`) };
    for (const g of h.guests) c[g.name] = deriveCredential(s, `domain-token:${h.name}/${g.name}`);
    domainTokens.set(h.name, c);
  }
  const controlTokens = new Map(planLab(topo).services.map((x) => [x.name, deriveCredential(s, `control-token:${x.name}`)]));
  const development = secret === undefined;
  const header = development ? `${devSecretComment('#')}\n` : '';
  return { development, controller, users, natsConf: header + natsConfig(users, controller), domainTokens, controlTokens };
}

/** The comment every file holding credentials derived from the development secret carries. */
export function devSecretComment(mark: string): string {
  return [
    `${mark} WARNING: the passwords and domain tokens in these files are derived from the public development`,
    `${mark} secret "${DEV_RENDER_SECRET}": anyone can recompute them. Render with --secret S (or`,
    `${mark} VNETLAB_RENDER_SECRET) for a deployment anyone else can reach.`,
  ].join('\n');
}

/** A service's NATS user (undefined: it has none, which the plan never produces). */
export function natsUserOf(creds: LabCredentials, s: ContainerService): NatsUser | undefined {
  return creds.users.find((u) => u.user === natsUserName(s.name));
}

/** The hypercall credential of a domain's service (driver domain: dom0's, guest: its own). */
export function domainTokenOf(creds: LabCredentials, s: ContainerService): string | undefined {
  if (s.kind !== 'driver-domain' && s.kind !== 'guest') return undefined;
  return creds.domainTokens.get(s.host!)?.[s.kind === 'driver-domain' ? 'dom0' : s.name];
}

/** The token a service's control plane takes (every service of the plan has one). */
export function controlTokenOf(creds: LabCredentials, s: Pick<ContainerService, 'name'>): string {
  const token = creds.controlTokens.get(s.name);
  if (token === undefined) throw new Error(`service ${s.name} has no control token`);
  return token;
}

/** Every service's control token, {service name: token}: what the operator calls the services with. */
export const controlTokensJson = (creds: LabCredentials): string => JSON.stringify(Object.fromEntries(creds.controlTokens));

/** The hypervisor's file of its host's domain credentials, as the controller writes it. */
export const domainTokensJson = (creds: LabCredentials, host: string): string => JSON.stringify(creds.domainTokens.get(host) ?? {});
