// The xenbus state machine and the paths of a vif's frontend and backend directories.
import type { Store } from './store.js';

export enum XenbusState {
  Unknown = 0,
  Initialising = 1,
  InitWait = 2,
  Initialised = 3,
  Connected = 4,
  Closing = 5,
  Closed = 6,
}

/** /local/domain/<fe>/device/vif/<n> on host `host`. */
export function frontendDir(host: string, frontDomid: number, devid = 0): string {
  return `${host}.local.domain.${frontDomid}.device.vif.${devid}`;
}

/** /local/domain/<be>/backend/vif/<fe>/<n> on host `host`. */
export function backendDir(host: string, backDomid: number, frontDomid: number, devid = 0): string {
  return `${host}.local.domain.${backDomid}.backend.vif.${frontDomid}.${devid}`;
}

/** Resolves with the value of `path` once `accept` takes it (already there or later). */
export async function waitForValue(store: Store, path: string, accept: (value: string) => boolean, timeoutMs: number, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let stop: (() => void) | undefined;
    let done = false;
    const timer = setTimeout(() => finish(() => reject(new Error(`${path} ${what} in ${timeoutMs} ms`))), timeoutMs);
    const finish = (f: () => void) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      stop?.();
      f();
    };
    store
      .watch(path, (e) => {
        if (e.path === path && e.value !== undefined && accept(e.value)) finish(() => resolve(e.value!));
      })
      .then((s) => {
        stop = s;
        if (done) s();
      }, (err) => finish(() => reject(err)));
  });
}

/** Resolves when `dir.state` reaches one of `states` (already there or later). */
export async function waitForState(store: Store, dir: string, states: XenbusState[], timeoutMs = 30_000): Promise<XenbusState> {
  const v = await waitForValue(store, `${dir}.state`, (x) => states.includes(Number(x)), timeoutMs, `did not reach ${states.map((s) => XenbusState[s]).join('|')}`);
  return Number(v) as XenbusState;
}

export async function setState(store: Store, dir: string, s: XenbusState): Promise<void> {
  await store.write(`${dir}.state`, String(s));
}

/** Reads the named keys of a directory; throws naming the first missing one. */
export async function readKeys<K extends string>(store: Store, dir: string, keys: readonly K[]): Promise<Record<K, string>> {
  const out = {} as Record<K, string>;
  for (const k of keys) {
    const v = await store.read(`${dir}.${k}`);
    if (v === undefined) throw new Error(`xenstore: ${dir}.${k} is missing`);
    out[k] = v;
  }
  return out;
}
