// A notification storm's bound. In Xen a send on a port whose pending bit is still set costs
// the receiver nothing (evtchn_set_pending returns early): however fast a hostile guest calls
// EVTCHNOP_send, its peer takes one upcall per handling. The lab delivers every notification
// as a message of its own and cannot see the receiver clear the bit, so this limit stands in
// for it, per port and per window of modelled time: up to EVTCHN_BURST notifications pass
// as they come; beyond that they are coalesced into one upcall at the window's end — late by
// at most one window, never lost — and each coalesced send is counted as a violation.

/**
 * Window of the limit: 100 µs of modelled time, the order of one dom0 scheduling slice of
 * netback work (a guest's ping through dom0 takes ~25 µs in the lab), so a coalesced upcall
 * is late by at most that.
 */
export const EVTCHN_WINDOW_NS = 100_000;
/**
 * Notifications a port may send per window before they are coalesced: 16 per 100 µs is
 * 160k/s, twice the rate of a guest sending 1 Gb/s of full-size frames (83k frames/s) and
 * notifying for every one of them (no req_event hold-off at all), the most the lab's
 * legitimate traffic asks for.
 */
export const EVTCHN_BURST = 16;

/** What happens to one send: delivered now, delivered once at `atNs` for the window, or folded into that one. */
export type Admission = { action: 'deliver' } | { action: 'defer'; atNs: number } | { action: 'coalesce'; atNs: number };

interface PortWindow { start: number; sent: number; deferred: boolean }

export class NotificationLimit {
  private readonly windows = new Map<string, PortWindow>();

  constructor(readonly windowNs = EVTCHN_WINDOW_NS, readonly burst = EVTCHN_BURST) {}

  /** Admits one send on `domid`'s `port` at modelled time `tNs`. */
  admit(domid: number, port: number, tNs: number): Admission {
    const key = `${domid}:${port}`;
    const start = Math.floor(tNs / this.windowNs) * this.windowNs;
    let w = this.windows.get(key);
    // a send stamped before the current window (calls overtaking each other) counts in it
    if (!w || start > w.start) {
      w = { start, sent: 0, deferred: false };
      this.windows.set(key, w);
    }
    w.sent++;
    if (w.sent <= this.burst) return { action: 'deliver' };
    const atNs = w.start + this.windowNs;
    if (w.deferred) return { action: 'coalesce', atNs };
    w.deferred = true;
    return { action: 'defer', atNs };
  }

  /** The port was closed: its window goes with it. */
  forget(domid: number, port: number): void {
    this.windows.delete(`${domid}:${port}`);
  }
}
