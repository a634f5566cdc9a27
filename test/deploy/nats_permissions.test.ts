// The NATS configuration rendered for docker compose, loaded by a real nats-server: the
// one-shot `vnetlab nats-buckets` creates the KV buckets as the controller (a guest may
// not), and a guest's user is held to its own subjects with the password compose gives it.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { startNatsServer, stopNatsServer, type NatsServerHandle } from '@vnetlab/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { cliPath } from '../src/lab_kit.js';
import { deployDir } from './deploy_kit.js';

const dir = join(deployDir, 'compose');
const compose = parse(readFileSync(join(dir, 'docker-compose.yml'), 'utf8')) as { services: Record<string, { environment?: Record<string, string> }> };
const envOf = (id: string) => compose.services[id]!.environment!;
const tmp = mkdtempSync(join(tmpdir(), 'vnetlab-nats-perm-'));
let server: NatsServerHandle;
let controller: NatsConnection;
const heard: string[] = [];

/** `vnetlab nats-buckets` against the test server, as the given user (password in the environment, as in compose). */
function natsBuckets(user: string, password: string): Promise<{ code: number; stderr: string }> {
  return new Promise((res) => {
    execFile(
      process.execPath,
      [cliPath, 'nats-buckets', '--nats-url', server.url, '--wait', '5'],
      { env: { ...process.env, VNETLAB_NATS_USER: user, VNETLAB_NATS_PASSWORD: password }, timeout: 60_000 },
      (err, _stdout, stderr) => res({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stderr: String(stderr) }),
    );
  });
}

async function asUser(user: string, pass: string): Promise<{ nc: NatsConnection; errors: string[] }> {
  const nc = await connect({ servers: server.url, user, pass, inboxPrefix: `_INBOX_${user}` });
  const errors: string[] = [];
  void (async () => {
    for await (const st of nc.status()) if (st.type === 'error') errors.push(String(st.error));
  })();
  return { nc, errors };
}

beforeAll(async () => {
  server = await startNatsServer({ storeDir: join(tmp, 'js'), configFile: join(dir, 'nats/nats.conf') });
});

afterAll(async () => {
  await controller?.close().catch(() => undefined);
  if (server) await stopNatsServer(server).catch(() => undefined);
  rmSync(tmp, { recursive: true, force: true });
});

describe('the compose NATS configuration on a real nats-server', () => {
  it('a guest may not create the buckets; the controller user of nats-buckets does', async () => {
    const guest = await natsBuckets('vm-a1', envOf('vm-a1').VNETLAB_NATS_PASSWORD!);
    expect(guest.code).not.toBe(0);
    expect(guest.stderr).toMatch(/Permissions Violation for Publish to "\$JS\.API\.STREAM\.CREATE\.KV_/);
    const ok = await natsBuckets('controller', envOf('nats-buckets').VNETLAB_NATS_PASSWORD!);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    // a second run (another pod's init container) finds them and succeeds too
    expect((await natsBuckets('controller', envOf('nats-buckets').VNETLAB_NATS_PASSWORD!)).code).toBe(0);
  });

  it('a guest with its compose password publishes its ioreqs and its own xenstore keys, and is refused another domain\'s subjects', async () => {
    controller = await connect({ servers: server.url, user: 'controller', pass: envOf('nats-buckets').VNETLAB_NATS_PASSWORD! });
    for (const s of ['evtchn.>', 'ioreq.>', 'pirq.>', '$KV.xenstore.>']) controller.subscribe(s, { callback: (_e, m) => void heard.push(m.subject) });
    await controller.flush();
    const { nc: guest, errors } = await asUser('vm-a1', envOf('vm-a1').VNETLAB_NATS_PASSWORD!);
    guest.publish('evtchn.host-a.2', new Uint8Array([1]));
    guest.publish('pirq.host-a', new Uint8Array([1]));
    guest.publish('ioreq.host-a.2', new Uint8Array([1]));
    guest.publish('$KV.xenstore.host-a.local.domain.2.name', new TextEncoder().encode('hostile'));
    guest.publish('ioreq.host-a.1', new Uint8Array([1]));
    // a KV put of its own key is stored in the bucket nats-buckets created
    const ack = await guest.request('$KV.xenstore.host-a.local.domain.1.name', new TextEncoder().encode('vm-a1'), { timeout: 5000 });
    expect(JSON.parse(new TextDecoder().decode(ack.data))).toMatchObject({ stream: 'KV_xenstore' });
    guest.subscribe('evtchn.host-a.2');
    await guest.flush().catch(() => undefined);
    await controller.flush();
    await guest.close().catch(() => undefined);
    expect(heard.sort()).toEqual(['$KV.xenstore.host-a.local.domain.1.name', 'ioreq.host-a.1']);
    expect(errors.join(' ')).toMatch(/[Pp]ermissions [Vv]iolation/);
  });

  it('a guest\'s user is refused with another guest\'s password', async () => {
    await expect(connect({ servers: server.url, user: 'vm-a1', pass: envOf('vm-a2').VNETLAB_NATS_PASSWORD!, reconnect: false })).rejects.toThrow(/[Aa]uthoriz/);
  });
});
