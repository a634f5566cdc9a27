// xenstore on NATS KV: the front/back negotiation of a vif (ring refs, event channel,
// features, XenbusState) as keys of one bucket, watched as xenstore watches are.
//
// A xenstore path such as /local/domain/1/device/vif/0/tx-ring-ref becomes the KV key
// `<host>.local.domain.1.device.vif.0.tx-ring-ref`: slashes become dots so that a watch on
// `<host>.local.domain.1.device.vif.0.>` sees the whole device, and the host comes first
// because each host has its own xenstore.

/** Name of the NATS KV bucket holding every host's xenstore. */
export const XENSTORE_BUCKET = 'xenstore';

/** A xenstore path that cannot become a KV key. */
export class XenstoreKeyError extends Error {
  constructor(
    readonly reason: 'bad_path' | 'bad_host',
    readonly value: string,
  ) {
    super(`xenstore ${reason === 'bad_host' ? 'host' : 'path'} ${JSON.stringify(value)} cannot become a KV key`);
    this.name = 'XenstoreKeyError';
  }
}

// NATS KV keys allow [-/_=.a-zA-Z0-9]; a path element may not itself hold a dot, which
// would split it into two levels.
const ELEMENT = /^[-_=a-zA-Z0-9]+$/;

/** KV key of a xenstore path on a host: xenstoreKey('h1', '/local/domain/1/device/vif/0/state'). */
export function xenstoreKey(host: string, path: string): string {
  if (!ELEMENT.test(host)) throw new XenstoreKeyError('bad_host', host);
  const parts = path.split('/').filter((p) => p.length > 0);
  if (parts.length === 0 || !parts.every((p) => ELEMENT.test(p) || p === '>' || p === '*')) {
    throw new XenstoreKeyError('bad_path', path);
  }
  return [host, ...parts].join('.');
}

/** The xenstore path of a key made by xenstoreKey: { host, path }. */
export function xenstorePath(key: string): { host: string; path: string } {
  const [host, ...parts] = key.split('.');
  if (!host || parts.length === 0) throw new XenstoreKeyError('bad_path', key);
  return { host, path: '/' + parts.join('/') };
}

/** Frontend directory of a vif: /local/domain/<domid>/device/vif/<devid>. */
export function vifFrontendPath(domid: number, devid: number): string {
  return `/local/domain/${domid}/device/vif/${devid}`;
}

/** Backend directory of a vif: /local/domain/<backend>/backend/vif/<domid>/<devid>. */
export function vifBackendPath(backendDomid: number, frontendDomid: number, devid: number): string {
  return `/local/domain/${backendDomid}/backend/vif/${frontendDomid}/${devid}`;
}

/** enum xenbus_state (include/xen/interface/io/xenbus.h), stored as a decimal string. */
export const XenbusState = {
  Unknown: 0,
  Initialising: 1,
  InitWait: 2,
  Initialised: 3,
  Connected: 4,
  Closing: 5,
  Closed: 6,
  Reconfiguring: 7,
  Reconfigured: 8,
} as const;
export type XenbusState = (typeof XenbusState)[keyof typeof XenbusState];

/** One key of a vif's directories, as netif.h describes it. */
export interface XenstoreKeyEntry {
  /** Directory it lives in. */
  dir: 'frontend' | 'backend';
  /** Key name under that directory. */
  key: string;
  /** Who writes it. */
  writer: 'netfront' | 'netback' | 'toolstack';
  /** What the value means. */
  meaning: string;
}

export const XENSTORE_KEYS: readonly XenstoreKeyEntry[] = [
  { dir: 'frontend', key: 'backend', writer: 'toolstack', meaning: 'path of the backend directory' },
  { dir: 'frontend', key: 'backend-id', writer: 'toolstack', meaning: 'domid of the backend (driver domain)' },
  { dir: 'frontend', key: 'mac', writer: 'toolstack', meaning: 'MAC address of the interface' },
  { dir: 'frontend', key: 'state', writer: 'netfront', meaning: "frontend's XenbusState" },
  { dir: 'frontend', key: 'tx-ring-ref', writer: 'netfront', meaning: 'gref of the TX shared ring page' },
  { dir: 'frontend', key: 'rx-ring-ref', writer: 'netfront', meaning: 'gref of the RX shared ring page' },
  { dir: 'frontend', key: 'event-channel', writer: 'netfront', meaning: 'unbound event-channel port allocated for the backend' },
  { dir: 'frontend', key: 'request-rx-copy', writer: 'netfront', meaning: '1: receive by grant copy, 0: by page flip' },
  { dir: 'frontend', key: 'feature-rx-notify', writer: 'netfront', meaning: '1: frontend notifies when it posts RX requests' },
  { dir: 'frontend', key: 'feature-sg', writer: 'netfront', meaning: '1: accepts multi-fragment (scatter-gather) packets' },
  { dir: 'frontend', key: 'feature-gso-tcpv4', writer: 'netfront', meaning: '1: accepts TCPv4 GSO packets' },
  { dir: 'frontend', key: 'feature-no-csum-offload', writer: 'netfront', meaning: '1: checksums must not be offloaded' },
  { dir: 'backend', key: 'frontend', writer: 'toolstack', meaning: 'path of the frontend directory' },
  { dir: 'backend', key: 'frontend-id', writer: 'toolstack', meaning: 'domid of the guest' },
  { dir: 'backend', key: 'handle', writer: 'toolstack', meaning: 'vif device id' },
  { dir: 'backend', key: 'mac', writer: 'toolstack', meaning: 'MAC address of the interface' },
  { dir: 'backend', key: 'state', writer: 'netback', meaning: "backend's XenbusState" },
  { dir: 'backend', key: 'feature-rx-copy', writer: 'netback', meaning: '1: can deliver received packets by grant copy' },
  { dir: 'backend', key: 'feature-rx-flip', writer: 'netback', meaning: '1: can deliver received packets by page flip' },
  { dir: 'backend', key: 'feature-sg', writer: 'netback', meaning: '1: handles multi-fragment packets' },
  { dir: 'backend', key: 'feature-gso-tcpv4', writer: 'netback', meaning: '1: handles TCPv4 GSO packets' },
];
