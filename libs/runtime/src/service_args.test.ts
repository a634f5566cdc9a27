import { describe, it, expect } from 'vitest';
import { parseServiceArgs, serviceUsage, ConfigError } from './service_args.js';

const spec = {
  kind: 'guest',
  description: 'a domU',
  options: {
    arch: { help: 'I/O architecture', default: 'pv' },
    pages: { help: 'RAM pages', type: 'number' as const, default: 256 },
    'rx-flip': { help: 'receive by page flip', type: 'boolean' as const, default: false },
  },
};

describe('parseServiceArgs', () => {
  it('takes flags over env vars over defaults', () => {
    const cfg = parseServiceArgs(
      ['--host', 'h2', '--grpc-port=7001', '--arch', 'cdna', '--rx-flip'],
      spec,
      { VNETLAB_HOST: 'h9', VNETLAB_NATS_URL: 'nats://nats.lab:4333', VNETLAB_HTTP_PORT: '9100', VNETLAB_PAGES: '512' },
    );
    expect(cfg.kind).toBe('guest');
    expect(cfg.host).toBe('h2');
    expect(cfg.name).toBe('guest-h2');
    expect(cfg.natsUrl).toBe('nats://nats.lab:4333');
    expect(cfg.httpPort).toBe(9100);
    expect(cfg.grpcPort).toBe(7001);
    expect(cfg.options).toEqual({ arch: 'cdna', pages: 512, 'rx-flip': true });
    expect(cfg.natsUser).toBeUndefined();
  });

  it('reads NATS credentials and makes the lab dir absolute', () => {
    const cfg = parseServiceArgs(['--nats-user', 'lab', '--lab-dir', 'x/y'], spec, { VNETLAB_NATS_PASSWORD: 's3cret' });
    expect(cfg.natsUser).toBe('lab');
    expect(cfg.natsPassword).toBe('s3cret');
    expect(cfg.labDir.startsWith('/')).toBe(true);
    expect(cfg.labDir.endsWith('/x/y')).toBe(true);
  });

  it('refuses an unknown flag instead of ignoring it', () => {
    expect(() => parseServiceArgs(['--hots', 'h1'], spec, {})).toThrow(ConfigError);
    expect(() => parseServiceArgs(['--hots', 'h1'], spec, {})).toThrow(expect.objectContaining({ reason: 'unknown_flag', option: 'hots' }));
  });

  it('refuses a port that is not a port and a flag without its value', () => {
    expect(() => parseServiceArgs(['--http-port', 'eighty'], spec, {})).toThrow(expect.objectContaining({ reason: 'bad_value' }));
    expect(() => parseServiceArgs([], spec, { VNETLAB_GRPC_PORT: '70000' })).toThrow(expect.objectContaining({ reason: 'bad_value' }));
    expect(() => parseServiceArgs(['--host'], spec, {})).toThrow(expect.objectContaining({ reason: 'missing_value' }));
  });

  it('usage names every flag with its environment variable', () => {
    const u = serviceUsage(spec);
    for (const v of ['--nats-url', 'VNETLAB_NATS_URL', '--rx-flip', 'VNETLAB_RX_FLIP', '--lab-dir', 'a domU']) expect(u).toContain(v);
  });
});
