// The range of the lab's modelled clock, checked where a time comes in from another service.
import { BadMessageError } from './service.js';

/**
 * The modelled clock runs in [0, 2^53) ns (104 days): beyond it a double no longer holds every
 * nanosecond, and a service that took such a time would stamp everything after it with a clock
 * on which one more nanosecond changes nothing (round trips of 0, rates of infinity).
 */
export const MAX_MODELLED_NS = Number.MAX_SAFE_INTEGER;

export function isModelledTime(tNs: unknown): tNs is number {
  return typeof tNs === 'number' && Number.isFinite(tNs) && tNs >= 0 && tNs <= MAX_MODELLED_NS;
}

/** tNs when it is a modelled time; else a BadMessageError('bad_time') that names `what`. */
export function checkModelledTime(tNs: number, what: string): number {
  if (!isModelledTime(tNs)) throw new BadMessageError('bad_time', `${what} at modelled time ${tNs}: not in 0..${MAX_MODELLED_NS} ns`);
  return tNs;
}
