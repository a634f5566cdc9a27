// xenstore on NATS KV: the Store the split drivers negotiate through (see @vnetlab/xenbus).
import type { KV } from '@nats-io/kv';

export interface StoreWatchEvent { path: string; value: string | undefined }

/** A xenbus Store backed by a KV bucket; keys are '.'-separated xenstore paths. */
export class KvStore {
  constructor(private readonly kv: KV) {}

  async read(path: string): Promise<string | undefined> {
    const e = await this.kv.get(path);
    if (!e || e.operation !== 'PUT') return undefined;
    return e.string();
  }

  async write(path: string, value: string): Promise<void> {
    await this.kv.put(path, value);
  }

  async remove(path: string): Promise<void> {
    await this.kv.delete(path);
  }

  /** Current values under prefix first, then every change, as a xenstore watch fires. */
  async watch(prefix: string, cb: (e: StoreWatchEvent) => void): Promise<() => void> {
    // nats-server 2.9 takes one filter per watch: the key itself, and the keys under it
    const keys = prefix.endsWith('>') ? [prefix] : [prefix, `${prefix}.>`];
    const its = await Promise.all(keys.map((key) => this.kv.watch({ key })));
    for (const it of its)
      void (async () => {
        for await (const e of it) cb({ path: e.key, value: e.operation === 'PUT' ? e.string() : undefined });
      })().catch(() => undefined);
    return () => its.forEach((it) => it.stop());
  }
}
