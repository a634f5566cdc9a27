// The guest's network device as a migrating kernel sees it: the same device before and after
// the move, whose I/O is held while the guest is suspended and goes out on the connection it
// resumes with (the seed's "requests are queued up in the stack" during the copy).
import type { GuestNic } from './guest_kernel.js';
import type { FrameOffload } from './tx_offload.js';

/** A device whose frames waiting for ring room can be taken (netfront). */
export interface QueueingNic extends GuestNic {
  takeQueued?(): Array<{ frame: Buffer; off?: FrameOffload }>;
}

export class MigratableNic implements GuestNic {
  private dev: QueueingNic;
  private held: Array<{ frame: Buffer; off?: FrameOffload }> = [];
  private suspended = false;
  private notifyFn: (tNs: number) => void = () => undefined;
  /** Frames held while suspended, in all suspensions. */
  heldTotal = 0;

  constructor(dev: QueueingNic) {
    this.dev = dev;
  }

  get device(): QueueingNic {
    return this.dev;
  }

  get isSuspended(): boolean {
    return this.suspended;
  }

  /** Frames held for the next connection. */
  get heldFrames(): number {
    return this.held.length;
  }

  /** How the backend is told (the event channel of the current connection). */
  setNotify(fn: (tNs: number) => void): void {
    this.notifyFn = fn;
  }

  /** The kernel's notification: to the backend, or nowhere while suspended (the backend is going away). */
  notify(tNs: number): void {
    if (!this.suspended) this.notifyFn(tNs);
  }

  transmit(frame: Buffer, tNs: number, offload?: FrameOffload): { notify: boolean; tNs: number; queued?: boolean; drop?: string } {
    if (this.suspended) {
      this.held.push({ frame, ...(offload ? { off: offload } : {}) });
      this.heldTotal++;
      return { notify: false, tNs, queued: true };
    }
    return this.dev.transmit(frame, tNs, offload);
  }

  /** Still the old device while suspending: its last responses are taken before the copy. */
  onEvent(tNs: number) {
    return this.dev.onEvent(tNs);
  }

  /** While suspended the stack keeps its data (as a full ring would make it). */
  get txQueued(): number {
    return this.suspended ? Math.max(1, this.held.length) : this.dev.txQueued;
  }

  /** From now on frames are held; those the device queued for ring room are held too, in order. */
  suspend(): void {
    this.suspended = true;
    const queued = this.dev.takeQueued?.() ?? [];
    this.held.push(...queued);
    this.heldTotal += queued.length;
  }

  /**
   * The guest runs again on `dev`: held frames go to it first, in order, from modelled time
   * tNs. Returns whether the backend must be told, and frames the device refused (with why).
   */
  resume(dev: QueueingNic, tNs: number): { notify: boolean; tNs: number; sent: number; dropped: Array<{ frame: Buffer; reason: string }> } {
    this.dev = dev;
    this.suspended = false;
    let notify = false;
    let t = tNs;
    const dropped: Array<{ frame: Buffer; reason: string }> = [];
    const held = this.held.splice(0);
    for (const h of held) {
      const r = dev.transmit(h.frame, t, h.off);
      t = Math.max(t, r.tNs);
      if (r.drop) dropped.push({ frame: h.frame, reason: r.drop });
      notify = notify || r.notify;
    }
    return { notify, tNs: t, sent: held.length - dropped.length, dropped };
  }
}
