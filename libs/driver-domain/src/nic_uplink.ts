// The physical NIC's driver as the bridge's uplink: frames go onto the NIC's TX ring and a
// doorbell (an MMIO write of the tail register) tells the NIC; its interrupt hands back
// received frames and finished TX buffers, and the driver reposts RX buffers.
import type { Cpu } from '@vnetlab/cost';
import type { SkBuff } from '@vnetlab/frames';
import type { NicDriver } from '@vnetlab/nic';
import type { Uplink } from './driver_domain.js';

export type Doorbell = (ring: 'tx' | 'rx', tail: number, tNs: number) => void;

export function nicUplink(driver: NicDriver, doorbell: Doorbell, cpu: Cpu, domain = 'dom0'): Uplink {
  return {
    transmit(skbs: SkBuff[], tNs: number) {
      const r = driver.transmit(skbs, tNs);
      let t = tNs;
      if (r.copiedBytes > 0) t = cpu.run(t, domain, [['copy_byte', r.copiedBytes]]);
      if (r.queued > 0) {
        t = cpu.run(t, domain, [['mmio_write', 1]]);
        doorbell('tx', r.tail, t);
      }
      return { accepted: skbs.length - r.rejected.length, tNs: t };
    },
    onInterrupt(tNs: number) {
      const r = driver.onInterrupt(tNs);
      let t = tNs;
      if (r.rx.length > 0) t = cpu.run(t, domain, [['nic_driver_rx', r.rx.length]]);
      if (r.txCompleted > 0) t = cpu.run(t, domain, [['ring_op', r.txCompleted]]);
      t = cpu.run(t, domain, [['mmio_write', 1]]);
      doorbell('rx', r.rxTail, t);
      return { rx: r.rx.map((s) => ({ ...s, tNs: Math.max(s.tNs, t) })), freedGfns: r.freedGfns, tNs: t };
    },
    txRoom: () => driver.txFree(),
    abandon: () => driver.abandonTx(),
    reset: () => driver.reset(),
    repost: (tNs: number) => doorbell('rx', driver.postRxBuffers(), tNs),
    ringAgain: (tNs: number) => {
      const t = driver.tails();
      doorbell('tx', t.tx, tNs);
      doorbell('rx', t.rx, tNs);
    },
    // the NIC's features, as its driver set them: what it lacks dom0 does in software
    offload: driver.offload,
  };
}
