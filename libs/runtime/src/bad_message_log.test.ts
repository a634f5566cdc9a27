// Every bad message is counted; only a few per reason and second are logged. Found by the lab
// fuzzer: one event batch of 100 000 events on unknown ports cost a guest 100 000 log lines and
// seconds of its event loop, long enough for its pings to time out.
import { describe, expect, it, vi } from 'vitest';
import { createLogger } from './logger.js';
import { BAD_MESSAGE_LOGS_PER_SECOND, ServiceMetrics } from './service_metrics.js';

describe('bad messages', () => {
  it('are all counted, but only BAD_MESSAGE_LOGS_PER_SECOND a second per reason are logged, and the next window says how many were not', async () => {
    vi.useFakeTimers({ now: 1_000_000 });
    try {
      const lines: string[] = [];
      const m = new ServiceMetrics({ service: 's', host: 'h' }, createLogger({ service: 's', write: (l) => lines.push(l) }), { processMetrics: false });
      for (let i = 0; i < 1000; i++) m.badMessage('unknown_port', { port: i });
      m.badMessage('decode');
      expect(lines).toHaveLength(BAD_MESSAGE_LOGS_PER_SECOND + 1);
      vi.setSystemTime(1_001_500);
      m.badMessage('unknown_port', { port: 7 });
      expect(JSON.parse(lines.at(-1)!)).toMatchObject({ msg: 'bad message', reason: 'unknown_port', port: 7, notLogged: 1000 - BAD_MESSAGE_LOGS_PER_SECOND });
      const text = await m.text();
      expect(text).toMatch(/vnetlab_bad_messages_total\{reason="unknown_port",service="s",host="h"\} 1001/);
      expect(text).toMatch(/vnetlab_bad_messages_total\{reason="decode",service="s",host="h"\} 1/);
    } finally {
      vi.useRealTimers();
    }
  });
});
