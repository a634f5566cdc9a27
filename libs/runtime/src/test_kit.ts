// Shared by the tests: a real nats-server on a free port in a temporary directory.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startNatsServer, stopNatsServer, type NatsServerHandle } from './nats_server.js';
import type { ServiceConfig } from './service_args.js';

export interface TestNats {
  server: NatsServerHandle;
  stop(): Promise<void>;
}

export async function startTestNats(): Promise<TestNats> {
  const dir = mkdtempSync(join(tmpdir(), 'vnetlab-nats-'));
  const server = await startNatsServer({ storeDir: join(dir, 'js') });
  return {
    server,
    stop: async () => {
      await stopNatsServer(server);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function testConfig(natsUrl: string, over: Partial<ServiceConfig> = {}): ServiceConfig {
  return {
    kind: 'test',
    name: 'test-h1',
    host: 'h1',
    natsUrl,
    httpPort: 0,
    grpcPort: 0,
    bindAddress: '127.0.0.1',
    labDir: tmpdir(),
    options: {},
    ...over,
  };
}
