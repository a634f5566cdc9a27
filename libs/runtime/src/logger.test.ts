import { describe, it, expect } from 'vitest';
import { createLogger } from './logger.js';

describe('createLogger', () => {
  it('writes one JSON object a line with service, host, domain and fields', () => {
    const lines: string[] = [];
    const log = createLogger({ service: 'netback', host: 'h1', domain: 'dom0', write: (l) => lines.push(l) });
    log.child({ vif: 'vif1.0' }).warn('ring overflow', { req_prod: 300 });
    expect(lines).toHaveLength(1);
    const rec = JSON.parse(lines[0]!);
    expect(rec).toMatchObject({ level: 'warn', msg: 'ring overflow', service: 'netback', host: 'h1', domain: 'dom0', vif: 'vif1.0', req_prod: 300 });
    expect(Number.isNaN(Date.parse(rec.time))).toBe(false);
  });

  it('drops lines below its level and keeps an error readable', () => {
    const lines: string[] = [];
    const log = createLogger({ service: 's', level: 'warn', write: (l) => lines.push(l) });
    log.info('not shown');
    log.error('failed', { error: Object.assign(new Error('bad gref'), { reason: 'bad_gntref' }) });
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!).error).toMatchObject({ message: 'bad gref', reason: 'bad_gntref' });
  });

  it('survives a cyclic field', () => {
    const lines: string[] = [];
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    createLogger({ service: 's', write: (l) => lines.push(l) }).info('x', { cyclic });
    expect(JSON.parse(lines[0]!).msg).toBe('x');
  });
});
