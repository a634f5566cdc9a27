import { describe, it, expect } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findNatsServer, startNatsServer, NatsServerError } from './nats_server.js';

describe('nats-server helpers', () => {
  it('says how to install nats-server when it is missing', () => {
    expect(() => findNatsServer(['/nonexistent/nats-server'])).toThrow(NatsServerError);
    expect(() => findNatsServer(['/nonexistent/nats-server'])).toThrow(/apt-get install nats-server/);
  });

  it('reports a server that exits before accepting clients, with its output', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vnetlab-nats-'));
    try {
      await expect(startNatsServer({ storeDir: join(dir, 'js'), configFile: join(dir, 'missing.conf') })).rejects.toMatchObject({
        reason: 'exited',
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('reloadNatsServer', () => {
  it("a connected client gets its user's new permissions, and loses the old ones, without reconnecting; KV keeps working", async () => {
    const { writeFileSync } = await import('node:fs');
    const { connect } = await import('@nats-io/transport-node');
    const { reloadNatsServer, stopNatsServer } = await import('./nats_server.js');
    const dir = mkdtempSync(join(tmpdir(), 'vnetlab-nats-'));
    const conf = join(dir, 'nats.conf');
    const config = (subject: string) => `authorization { users = [ { user: "boss", password: "b", permissions: { publish: ">", subscribe: ">" } }, { user: "guest", password: "g", permissions: { publish: { allow: ["_INBOX.>"] }, subscribe: { allow: ["${subject}"] } } } ] }\njetstream { store_dir: "${join(dir, 'js')}" }\n`;
    writeFileSync(conf, config('evtchn.host-a.1'));
    const server = await startNatsServer({ storeDir: join(dir, 'js'), configFile: conf, jetstreamInConfig: true });
    try {
      const guest = await connect({ servers: server.url, user: 'guest', pass: 'g' });
      const boss = await connect({ servers: server.url, user: 'boss', pass: 'b' });
      const { Kvm } = await import('@nats-io/kv');
      const kv = await new Kvm(boss).create('xenstore');
      await kv.put('k', 'before');
      const got: string[] = [];
      const listen = (subject: string) => guest.subscribe(subject, { callback: (err, m) => void (err ? got.push(`error ${subject}`) : got.push(m.subject)) });
      listen('evtchn.host-a.1');
      await guest.flush();
      writeFileSync(conf, config('evtchn.host-b.3'));
      await reloadNatsServer(server);
      listen('evtchn.host-b.3');
      await guest.flush();
      boss.publish('evtchn.host-a.1');
      boss.publish('evtchn.host-b.3');
      await boss.flush();
      await guest.flush();
      expect(got).toContain('evtchn.host-b.3');
      expect(got).not.toContain('evtchn.host-a.1');
      expect(guest.isClosed()).toBe(false);
      // JetStream (xenstore's KV) survives the reload: it is enabled by the configuration
      await kv.put('k', 'after');
      expect((await kv.get('k'))?.string()).toBe('after');
      await guest.close();
      await boss.close();
    } finally {
      await stopNatsServer(server);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
