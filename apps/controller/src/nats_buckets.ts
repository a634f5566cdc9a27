// The lab's KV buckets exist before any service starts: services may read and write keys,
// never create a stream (their NATS users have no permission to). The controller creates
// them for a local lab; in compose and Kubernetes `vnetlab nats-buckets` does, as a one-shot
// container that every service waits for.
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import { TAPS_BUCKET, XENSTORE_BUCKET } from '@vnetlab/proto';
import { UsageError, type FlagSpec } from './args.js';

export const LAB_BUCKETS: readonly string[] = [XENSTORE_BUCKET, TAPS_BUCKET];

/** Creates every bucket of the lab; one that exists already is left as it is. */
export async function createLabBuckets(nc: NatsConnection): Promise<void> {
  const kvm = new Kvm(nc);
  for (const b of LAB_BUCKETS) await kvm.create(b);
}

export const NATS_BUCKETS_FLAGS: FlagSpec[] = [
  { name: 'nats-url', type: 'string', help: 'NATS server URL (env VNETLAB_NATS_URL)' },
  { name: 'nats-user', type: 'string', help: 'a NATS user that may create streams, the controller\'s (env VNETLAB_NATS_USER)' },
  { name: 'wait', type: 'number', help: 'seconds to keep trying while the server is not up yet', default: 120 },
];

/**
 * `vnetlab nats-buckets`: connects (retrying until the server is up: it starts beside us)
 * and creates the buckets. The password is read from VNETLAB_NATS_PASSWORD only, so that
 * it is not on a command line.
 */
export async function cmdNatsBuckets(pos: string[], f: Record<string, unknown>, out: (s: string) => void, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  if (pos.length) throw new UsageError('nats-buckets takes no arguments');
  const servers = (f['nats-url'] as string | undefined) ?? env.VNETLAB_NATS_URL;
  if (!servers) throw new UsageError('nats-buckets needs --nats-url or VNETLAB_NATS_URL');
  const user = (f['nats-user'] as string | undefined) ?? env.VNETLAB_NATS_USER;
  const pass = env.VNETLAB_NATS_PASSWORD;
  if (user !== undefined && pass === undefined) throw new UsageError(`nats-buckets: user "${user}" needs its password in VNETLAB_NATS_PASSWORD`);
  const wait = Number(f.wait);
  if (!Number.isFinite(wait) || wait < 0) throw new UsageError(`--wait must be a number of seconds, got ${f.wait}`);
  const deadline = Date.now() + wait * 1000;
  let nc: NatsConnection | undefined;
  for (;;) {
    try {
      nc = await connect({ servers, ...(user !== undefined ? { user, pass, inboxPrefix: `_INBOX_${user}` } : {}), timeout: 2000 });
      break;
    } catch (e) {
      // a refused user is not going to be accepted by waiting
      if (/authorization/i.test(String((e as Error).message)) || Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  try {
    await createLabBuckets(nc);
  } finally {
    await nc.close();
  }
  out(`buckets ${LAB_BUCKETS.join(', ')} ready on ${servers}`);
  return 0;
}
