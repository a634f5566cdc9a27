// The device model of an emulated NIC (qemu's e1000 in the driver domain). The guest runs an
// unmodified e1000-style driver against it: every access to a device register traps (a VM
// exit) and reaches this model as an ioreq. The model then does in software what the real
// NIC would do by DMA: it reads the guest's descriptor rings and buffers through its mapping
// of guest memory, copies each frame into a driver-domain buffer for the bridge (TX), copies
// received frames into the guest's posted buffers (RX), writes the descriptors back, and
// raises the guest's interrupt.
import type { Cpu } from '@vnetlab/cost';
import type { SkBuff } from '@vnetlab/frames';
import type { GuestMemory, PagePool } from '@vnetlab/memory';
import { DESC_DD, DESC_EOP, DESC_SIZE, E1000, decodeDescriptor, encodeWriteback } from '@vnetlab/nic';

const PAGE = 4096;

interface Ring {
  base: number; // guest-physical byte address
  size: number; // descriptors
  head: number;
  tail: number;
}

export interface EmulatedNicOptions {
  /** The guest's memory as the device model maps it (guest-physical addresses). */
  guest: GuestMemory;
  /** The driver domain's memory and buffer pages (frames for the bridge live there). */
  dom0: GuestMemory;
  pages: PagePool;
  cpu: Cpu;
  domain?: string;
  /** Frames that may wait for the guest's receive buffers. */
  rxBacklog?: number;
}

export interface ModelResult {
  skbs: SkBuff[];
  /** The guest's interrupt must be raised. */
  interrupt: boolean;
  tNs: number;
  drops: Record<string, number>;
}

/** A register write the device refuses: out of the register's range, or a ring outside the guest. */
export class EmulatedNicError extends Error {
  constructor(
    readonly reason: 'bad_register_value',
    message: string,
  ) {
    super(message);
    this.name = 'EmulatedNicError';
  }
}

export class EmulatedNicModel {
  private tx: Ring = { base: 0, size: 0, head: 0, tail: 0 };
  private rx: Ring = { base: 0, size: 0, head: 0, tail: 0 };
  private backlog: SkBuff[] = [];
  private readonly domain: string;
  readonly stats = { ioreqs: 0, txFrames: 0, rxFrames: 0, drops: {} as Record<string, number> };

  constructor(private readonly o: EmulatedNicOptions) {
    this.domain = o.domain ?? 'dom0';
  }

  /** One trapped register access. */
  onIoreq(reg: number, value: number, write: boolean, tNs: number): ModelResult {
    this.stats.ioreqs++;
    let t = this.o.cpu.run(tNs, this.domain, [['device_emulation', 1]]);
    const out: ModelResult = { skbs: [], interrupt: false, tNs: t, drops: {} };
    if (!write) return out; // ICR read: the model's work is the emulation itself
    this.checkWrite(reg, value);
    switch (reg) {
      case E1000.TDBAL:
        this.tx = { ...this.tx, base: value, head: 0, tail: 0 };
        break;
      case E1000.RDBAL:
        this.rx = { ...this.rx, base: value, head: 0, tail: 0 };
        break;
      case E1000.TDLEN:
        this.tx.size = Math.floor(value / DESC_SIZE);
        break;
      case E1000.RDLEN:
        this.rx.size = Math.floor(value / DESC_SIZE);
        break;
      case E1000.TDT:
        this.tx.tail = value % Math.max(1, this.tx.size);
        t = this.transmit(t, out);
        break;
      case E1000.RDT:
        this.rx.tail = value % Math.max(1, this.rx.size);
        if (this.backlog.length > 0) t = this.receive(this.backlog.splice(0), t, out);
        break;
      default:
        this.bump(out.drops, 'unknown_register');
    }
    out.tNs = t;
    return out;
  }

  /** Frames from the bridge for this guest. */
  deliver(skbs: SkBuff[], tNs: number): ModelResult & { freedGfns: number[] } {
    const out: ModelResult = { skbs: [], interrupt: false, tNs, drops: {} };
    const freedGfns = skbs.flatMap((s) => (s.page ? [s.page.gfn] : []));
    const t = this.receive(this.backlog.splice(0).concat(skbs), tNs, out);
    return { ...out, tNs: t, freedGfns };
  }

  /** TX: every descriptor in [head, tail): read by the model, copied into a dom0 page. */
  private transmit(tNs: number, out: ModelResult): number {
    let t = tNs;
    const r = this.tx;
    while (r.size > 0 && r.head !== r.tail) {
      const descAt = this.slot(r, r.head);
      const d = decodeDescriptor(this.o.guest.read(descAt.gfn, descAt.off, DESC_SIZE));
      const gfn = this.o.pages.take();
      let ok = false;
      if (gfn !== undefined && d.len >= 14 && d.len <= PAGE && (d.addr % PAGE) + d.len <= PAGE) {
        const bytes = this.o.guest.read(Math.floor(d.addr / PAGE), d.addr % PAGE, d.len);
        this.o.dom0.write(gfn, 0, bytes);
        t = this.o.cpu.run(t, this.domain, [['copy_byte', d.len]]);
        out.skbs.push({ bytes, tNs: t, page: { gfn, offset: 0 } });
        this.stats.txFrames++;
        ok = true;
      } else {
        if (gfn !== undefined) this.o.pages.give(gfn);
        this.bump(out.drops, gfn === undefined ? 'no_buffer' : 'bad_descriptor');
      }
      this.o.guest.write(descAt.gfn, descAt.off, encodeWriteback({ doneNs: t, len: d.len, flags: d.flags, status: DESC_DD | (ok ? 0 : 2) }));
      r.head = (r.head + 1) % r.size;
      out.interrupt = true;
    }
    return t;
  }

  /** RX: each frame into the next buffer the guest posted; the rest waits (bounded). */
  private receive(skbs: SkBuff[], tNs: number, out: ModelResult): number {
    let t = tNs;
    const r = this.rx;
    for (let i = 0; i < skbs.length; i++) {
      const skb = skbs[i]!;
      if (r.size === 0 || r.head === r.tail) {
        const room = (this.o.rxBacklog ?? 256) - this.backlog.length;
        const rest = skbs.slice(i);
        this.backlog.push(...rest.slice(0, Math.max(0, room)));
        for (let k = Math.max(0, room); k < rest.length; k++) this.bump(out.drops, 'rx_no_buffer');
        break;
      }
      const descAt = this.slot(r, r.head);
      const d = decodeDescriptor(this.o.guest.read(descAt.gfn, descAt.off, DESC_SIZE));
      const len = skb.bytes.length;
      t = this.o.cpu.run(Math.max(t, skb.tNs), this.domain, [['copy_byte', len]]);
      let status = DESC_DD;
      if (len <= d.len && (d.addr % PAGE) + len <= PAGE) {
        this.o.guest.write(Math.floor(d.addr / PAGE), d.addr % PAGE, skb.bytes);
        this.stats.rxFrames++;
      } else {
        status |= 2;
        this.bump(out.drops, 'oversize');
      }
      this.o.guest.write(descAt.gfn, descAt.off, encodeWriteback({ doneNs: t, len, flags: DESC_EOP, status }));
      r.head = (r.head + 1) % r.size;
      out.interrupt = true;
    }
    return t;
  }

  /**
   * e1000 registers are 32 bits; a ring must lie in the guest's memory and a tail index inside
   * its ring. Anything else is refused before it changes the device (a tail taken modulo the
   * ring, or a base past the guest's memory, would leave the rings unusable).
   */
  private checkWrite(reg: number, value: number): void {
    const bad = (why: string) => new EmulatedNicError('bad_register_value', `register 0x${reg.toString(16)} = ${value}: ${why}`);
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw bad('not a 32-bit value');
    const memBytes = this.o.guest.pages * PAGE;
    switch (reg) {
      case E1000.TDBAL:
      case E1000.RDBAL:
        if (value % DESC_SIZE !== 0 || value >= memBytes) throw bad(`a ring base must be descriptor-aligned and inside the guest's ${memBytes} bytes`);
        break;
      case E1000.TDLEN:
      case E1000.RDLEN: {
        const base = reg === E1000.TDLEN ? this.tx.base : this.rx.base;
        if (value % DESC_SIZE !== 0 || base + value > memBytes) throw bad(`a ring length must be a multiple of ${DESC_SIZE} and end inside the guest's memory`);
        break;
      }
      case E1000.TDT:
      case E1000.RDT: {
        const size = reg === E1000.TDT ? this.tx.size : this.rx.size;
        if (value >= Math.max(1, size)) throw bad(`a tail must be a descriptor index below the ring's ${size}`);
        break;
      }
    }
  }

  private slot(r: Ring, i: number): { gfn: number; off: number } {
    const addr = r.base + i * DESC_SIZE;
    return { gfn: Math.floor(addr / PAGE), off: addr % PAGE };
  }

  private bump(d: Record<string, number>, reason: string): void {
    d[reason] = (d[reason] ?? 0) + 1;
    this.stats.drops[reason] = (this.stats.drops[reason] ?? 0) + 1;
  }
}
