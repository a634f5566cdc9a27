import { it } from 'vitest';
import { NetStack } from './net_stack.js';
import { BackToBack } from './back_to_back.testkit.js';
it('probe', () => {
  for (const dropEvery of [undefined, 100, 7]) {
    const w = new BackToBack(new NetStack({ mac: '02:00:00:00:00:0a', ip: '10.0.0.1' }), new NetStack({ mac: '02:00:00:00:00:0b', ip: '10.0.0.2' }), { dropEvery });
    w.b.listenTcp(5001);
    const { flow, out } = w.a.startTcpBulk('10.0.0.2', 5001, 1 << 20, 0);
    w.put('a', out); w.run();
    const s = w.a.flowStats(flow)!;
    console.log(dropEvery, 'timeNs', w.now, 'Mbps', ((1 << 20) * 8 / w.now * 1000).toFixed(1), JSON.stringify(s.tcp), JSON.stringify(w.b.stats().drops), 'lost', w.lostFrames, 'wire', w.wireFrames);
  }
});
