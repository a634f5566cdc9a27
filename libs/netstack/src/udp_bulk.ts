import type { Ip } from '@vnetlab/frames';
import type { BytePattern } from './byte_pattern.js';

/**
 * A UDP stream of `totalBytes` pattern bytes in datagrams of `msgSize` (the last one may be
 * shorter). The owner pulls one datagram at a time when its TX ring has room.
 */
export class UdpBulk {
  private offset = 0;

  constructor(
    readonly flow: string,
    readonly dst: Ip,
    readonly srcPort: number,
    readonly dstPort: number,
    readonly totalBytes: number,
    readonly msgSize: number,
    private readonly pattern: BytePattern,
  ) {}

  get done(): boolean { return this.offset >= this.totalBytes; }
  get bytesQueued(): number { return this.offset; }

  /** The next datagram's payload, or undefined when the stream is finished. */
  next(): Buffer | undefined {
    if (this.done) return undefined;
    const len = Math.min(this.msgSize, this.totalBytes - this.offset);
    const p = this.pattern.bytes(this.offset, len);
    this.offset += len;
    return p;
  }
}
