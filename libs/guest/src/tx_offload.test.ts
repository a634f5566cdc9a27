import { describe, expect, it } from 'vitest';
import { TCP_ACK, buildIcmpEchoFrame, buildTcpFrame, buildUdpFrame } from '@vnetlab/frames';
import { txWork } from './tx_offload.js';

const ends = { srcMac: '00:16:3e:00:00:01', dstMac: '00:16:3e:00:00:02', srcIp: '10.0.0.1', dstIp: '10.0.0.2' };
const tcp = (n: number) => buildTcpFrame({ ...ends, segment: { srcPort: 1, dstPort: 2, seq: 0, ack: 0, flags: TCP_ACK, window: 1, payload: Buffer.alloc(n, 7) } });

describe('the guest kernel\'s work per frame sent', () => {
  it('without offloads: stack_tx and checksum_byte over every byte the checksum covers', () => {
    expect(txWork(tcp(1460), undefined, undefined)).toEqual({ charges: [['stack_tx', 1], ['checksum_byte', 1480]], wireBytes: [1514] });
  });

  it('with checksum offload a TCP or UDP frame goes down checksum-partial and costs no checksum; ICMP still does', () => {
    const on = { csum: true, tso: false };
    expect(txWork(tcp(1460), on, undefined)).toEqual({ charges: [['stack_tx', 1]], offload: { csumBlank: true }, wireBytes: [1514] });
    const udp = buildUdpFrame({ ...ends, srcPort: 1, dstPort: 2, payload: Buffer.alloc(100) });
    expect(txWork(udp, on, undefined).offload).toEqual({ csumBlank: true });
    const icmp = buildIcmpEchoFrame({ ...ends, id: 1, seq: 1, data: Buffer.alloc(56) });
    expect(txWork(icmp, on, undefined)).toEqual({ charges: [['stack_tx', 1], ['checksum_byte', 64]], wireBytes: [icmp.length] });
  });

  it('a TSO segment costs stack_tx once and stands for the frames it becomes on the wire', () => {
    const w = txWork(tcp(3000), { csum: true, tso: true }, 1460);
    expect(w.charges).toEqual([['stack_tx', 1]]);
    expect(w.offload).toEqual({ csumBlank: true, gsoSize: 1460 });
    expect(w.wireBytes).toEqual([1514, 1514, 134]);
    // TSO without checksum offload: the stack still checksums the whole segment
    expect(txWork(tcp(3000), { csum: false, tso: true }, 1460).charges).toEqual([['stack_tx', 1], ['checksum_byte', 3020]]);
  });
});
