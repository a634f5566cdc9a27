// What a NIC shows of the frames on its port: copies for a capture of "host/nic", and the
// steps of a traced frame (its wire time going out, its DMA coming in).
import { describeFrame } from '@vnetlab/frames';
import { wireTimeNs } from '@vnetlab/nic';
import type { Taps } from '@vnetlab/runtime';

export function observeWire(taps: Taps, point: string, rateBps: number, dir: 'tx' | 'rx', bytes: Buffer, tNs: number, queueSets: number[] = []): void {
  if (!taps.capturing && !taps.tracing) return;
  taps.capture('nic', point, dir, bytes, tNs);
  for (const { tap } of taps.traced(bytes)) {
    const wire = wireTimeNs(bytes.length, rateBps);
    if (dir === 'tx') {
      taps.hop(tap, {
        component: 'nic', step: 'wire_tx', tNs, startNs: tNs - wire, frame: describeFrame(bytes),
        detail: `${point} read ${bytes.length} bytes from host memory by DMA and put them on the wire: ${(wire / 1000).toFixed(3)} µs at ${rateBps / 1e9} Gb/s`,
      });
    } else {
      taps.hop(tap, {
        component: 'nic', step: 'dma_rx', tNs, frame: describeFrame(bytes),
        detail: `${point} received ${bytes.length} bytes and wrote them by DMA into ${queueSets.length ? `queue set ${queueSets.join(', ')}` : 'no queue set (dropped)'}; its interrupt follows (coalesced)`,
      });
    }
  }
}
