import { checkNonNegative } from './primitive.js';

/**
 * A contended resource in modelled time (a CPU, a link direction, a DMA engine): work
 * starts at max(arrival, busyUntil) and ends `costNs` later, in order of service.
 */
export class FifoServer {
  busyUntil = 0;

  serve(arrivalNs: number, costNs: number): { start: number; end: number } {
    checkNonNegative(arrivalNs, 'bad_time', 'arrivalNs');
    checkNonNegative(costNs, 'bad_time', 'costNs');
    const start = Math.max(arrivalNs, this.busyUntil);
    const end = start + costNs;
    this.busyUntil = end;
    return { start, end };
  }
}
