// xenstore as the split drivers see it: a tree of small string values with watches.
// Paths are '.'-separated (a NATS KV key), e.g. "host-a.local.domain.1.device.vif.0.state".

export interface WatchEvent { path: string; value: string | undefined }

export interface Store {
  read(path: string): Promise<string | undefined>;
  write(path: string, value: string): Promise<void>;
  remove(path: string): Promise<void>;
  /** Calls back for every current key under prefix, then for every change; returns a stop function. */
  watch(prefix: string, cb: (e: WatchEvent) => void): Promise<() => void>;
}

/** An in-process store with the same semantics, for tests and single-process use. */
export class MemoryStore implements Store {
  private readonly data = new Map<string, string>();
  private readonly watchers = new Set<{ prefix: string; cb: (e: WatchEvent) => void }>();

  async read(path: string): Promise<string | undefined> {
    return this.data.get(path);
  }

  async write(path: string, value: string): Promise<void> {
    this.data.set(path, value);
    this.fire(path, value);
  }

  async remove(path: string): Promise<void> {
    this.data.delete(path);
    this.fire(path, undefined);
  }

  async watch(prefix: string, cb: (e: WatchEvent) => void): Promise<() => void> {
    const w = { prefix, cb };
    this.watchers.add(w);
    for (const [path, value] of this.data) if (under(path, prefix)) queueMicrotask(() => cb({ path, value }));
    return () => this.watchers.delete(w);
  }

  private fire(path: string, value: string | undefined): void {
    for (const w of this.watchers) if (under(path, w.prefix)) queueMicrotask(() => w.cb({ path, value }));
  }
}

export function under(path: string, prefix: string): boolean {
  return path === prefix || path.startsWith(prefix + '.');
}
