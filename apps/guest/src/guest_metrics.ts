// What a guest's user sees of its network: bytes in and out of its interface and the round
// trips it measured, labelled with the interface's I/O architecture so that a dashboard
// compares architectures on the same traffic.
import type { FlowCount } from '@vnetlab/flows';
import type { StackEvent } from '@vnetlab/netstack';
import type { Service } from '@vnetlab/runtime';

/** Round trips from a same-host neighbour (~20 µs) to a congested path across hosts (~1 s), in modelled seconds. */
export const RTT_BUCKETS = [10e-6, 20e-6, 50e-6, 100e-6, 200e-6, 500e-6, 1e-3, 2e-3, 5e-3, 10e-3, 20e-3, 50e-3, 0.1, 0.2, 0.5, 1];

/**
 * Exports the guest's byte counters (read from its flow counters at each scrape) and a
 * histogram of modelled round trips: echo replies (ping's own timestamp) and TCP's samples
 * (Karn's rule: never of a retransmitted segment). Returns the observer the kernel is given.
 */
export function guestMetrics(svc: Service, arch: string, flows: () => FlowCount[]): (e: StackEvent) => void {
  svc.metrics.exportCounter('vnetlab_guest_rx_bytes_total', 'Bytes of the frames delivered up this guest\'s stack, by the I/O architecture of its interface', ['arch'], (inc) => {
    inc({ arch }, flows().reduce((n, f) => n + f.deliveredBytes, 0));
  });
  svc.metrics.exportCounter('vnetlab_guest_tx_bytes_total', 'Bytes of the frames this guest\'s stack sent, by the I/O architecture of its interface', ['arch'], (inc) => {
    inc({ arch }, flows().reduce((n, f) => n + f.sentBytes, 0));
  });
  const rtt = svc.metrics.histogram('vnetlab_rtt_seconds', 'Round trips this guest measured, in modelled seconds: ICMP echo (ping) and TCP samples', ['proto', 'arch'], RTT_BUCKETS);
  return (e) => {
    if (e.kind === 'echo-reply') rtt.observe({ proto: 'icmp', arch }, e.rttNs / 1e9);
    else if (e.kind === 'tcp-rtt') rtt.observe({ proto: 'tcp', arch }, e.rttNs / 1e9);
  };
}
