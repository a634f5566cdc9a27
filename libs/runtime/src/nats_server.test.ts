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
