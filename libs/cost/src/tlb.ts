// The data TLB of one physical CPU: which page translations a domain's work finds cached and
// which it must walk the page table for (one `tlb_miss` each). Xen of Menon et al.'s era (seed
// 003) mapped a paravirtual kernel with 4 KB pages only, and a domain switch (a CR3 load)
// empties the TLB of everything but the hypervisor's own global entries; a native Linux
// kernel maps its memory with 4 MB superpages, so a handful of entries cover all of it (the
// model counts one: a domain's kernel objects and buffers share its direct-map superpage).
// Menon's third optimization gives the guest (and the driver domain) superpages back.
import type { Primitive } from './primitive.js';

/**
 * Entries of the Pentium 4's data TLB: 64, fully associative, holding 4 KB and 4 MB pages
 * alike (Intel SDM vol. 2A, CPUID leaf 2 descriptor 5Bh, "Data TLB: 4 KByte and 4 MByte
 * pages, 64 entries"; the NetBurst CPUs of the era report it). Instruction fetches have a TLB
 * of their own, not modelled.
 */
export const DTLB_ENTRIES = 64;

/** How a domain maps its kernel memory (the direct map that holds its data structures and buffers). */
export interface AddressSpace {
  /** 4 MB pages over the kernel's memory (native Linux; a Xen guest with Menon's support). */
  superpages: boolean;
}

export const XEN_2_SPACE: AddressSpace = { superpages: false };
export const NATIVE_SPACE: AddressSpace = { superpages: true };

interface Footprint {
  pages: number;
  why: string;
}

/**
 * Distinct 4 KB pages of kernel data one operation touches besides the bytes it moves
 * (estimates: no per-primitive page count was found published; each counts the kernel
 * objects the operation reads or writes, one page per object, as slab objects of different
 * caches lie on different pages). Primitives not listed run in the hypervisor, whose own
 * mappings are global superpages that survive every switch, or touch only what is listed
 * for the operation that calls them.
 */
export const KERNEL_PAGES: Partial<Record<Primitive, Footprint>> = {
  stack_tx: { pages: 6, why: 'socket, protocol control block, sk_buff, route (dst), neighbour entry, qdisc' },
  stack_rx: { pages: 6, why: 'sk_buff, route lookup (dst), socket hash bucket, socket, protocol control block, receive wait queue' },
  netfront_tx: { pages: 4, why: 'shared TX ring page, grant table page, per-queue state, sk_buff' },
  netfront_rx: { pages: 4, why: 'shared RX ring page, grant table page, per-queue state, sk_buff' },
  netback_tx: { pages: 4, why: 'shared TX ring page, pending-request array, vif state, sk_buff' },
  netback_rx: { pages: 4, why: 'shared RX ring page, copy-op array, vif state, sk_buff' },
  nic_driver_tx: { pages: 4, why: 'descriptor ring page, buffer-info array, adapter state, sk_buff' },
  nic_driver_rx: { pages: 4, why: 'descriptor ring page, buffer-info array, adapter state, sk_buff' },
  bridge_lookup: { pages: 3, why: 'forwarding-database hash bucket, fdb entry, bridge port' },
  ip_forward: { pages: 3, why: 'route cache entry, neighbour entry, output device' },
  flow_lookup: { pages: 3, why: 'flow-cache bucket, flow entry, actions' },
  vxlan_encap: { pages: 3, why: 'vxlan device, tunnel route, neighbour entry' },
  device_emulation: { pages: 3, why: 'ioreq page, device-model state, guest-memory map cache' },
};

/**
 * Packet buffers an operation reads besides any bytes it copies, one per operation: the frame's
 * page, fresh each time (a ring of 256 buffers cycles through more pages than the TLB holds).
 * The operations after it on the same frame (the bridge, the stack) find that page cached.
 */
export const BUFFER_PAGES: Partial<Record<Primitive, Footprint>> = {
  nic_driver_rx: { pages: 1, why: 'the received frame\'s header (eth_type_trans)' },
  netfront_rx: { pages: 1, why: 'the frame in the RX buffer the backend filled' },
  netback_tx: { pages: 1, why: 'the header copied out of the guest\'s request' },
  stack_tx: { pages: 1, why: 'the headers it writes in front of the payload' },
};

/** Pages of data a per-byte operation touches: a copy reads one buffer and writes another. */
const BUFFERS_PER_BYTE_OP: Partial<Record<Primitive, number>> = { copy_byte: 2, checksum_byte: 1 };

const PAGE = 4096;

/**
 * An LRU set of translations. Keys name a page of one domain's address space; a global entry
 * survives `flush()`, the CR3 load of a domain switch.
 */
export class Tlb {
  // A fixed array of slots, scanned: at 64 entries a scan is cheaper than a Map's
  // delete-and-reinsert per touch, and evicting allocates nothing.
  private readonly keys: Array<number | string | undefined>;
  private readonly global: Uint8Array;
  /** Tick of each slot's last use; the smallest is the least recently used. */
  private readonly used: Float64Array;
  private tick = 0;
  private count = 0;
  /** Interned page keys per domain: per primitive one number per page; '' its direct-map superpage. */
  private readonly ids = new Map<string, Map<string, number[]>>();
  private nextId = 1;
  /** Fresh buffer pages count down from -1: never seen before, never equal to an interned key. */
  private fresh = -1;
  misses = 0;

  constructor(readonly capacity = DTLB_ENTRIES) {
    this.keys = new Array<number | string | undefined>(capacity).fill(undefined);
    this.global = new Uint8Array(capacity);
    this.used = new Float64Array(capacity);
  }

  /** A domain switch: every non-global translation goes. */
  flush(): void {
    for (let i = 0; i < this.capacity; i++) {
      if (this.keys[i] !== undefined && this.global[i] === 0) {
        this.keys[i] = undefined;
        this.count--;
      }
    }
  }

  get size(): number {
    return this.count;
  }

  /** Looks `key` up, filling it on a miss; true on a miss. */
  touch(key: number | string, global = false): boolean {
    for (let i = 0; i < this.capacity; i++) {
      if (this.keys[i] === key) {
        this.used[i] = ++this.tick;
        this.global[i] = global ? 1 : 0;
        return false;
      }
    }
    this.fill(key, global);
    return true;
  }

  /** A miss: `key` takes an empty slot, else the least recently used one. */
  private fill(key: number | string, global: boolean): void {
    let slot = 0;
    for (let i = 0, oldest = Infinity; i < this.capacity; i++) {
      if (this.keys[i] === undefined) {
        slot = i;
        this.count++;
        break;
      }
      if (this.used[i]! < oldest) {
        oldest = this.used[i]!;
        slot = i;
      }
    }
    this.keys[slot] = key;
    this.global[slot] = global ? 1 : 0;
    this.used[slot] = ++this.tick;
    this.misses++;
  }

  /**
   * The misses of `n` of `primitive` run for `domain` in `space`. The hypervisor ('xen') maps
   * itself with global superpages, which the model never walks (nor lets them take an entry),
   * but reaches a domain's buffers through per-operation temporary mappings (map_domain_page),
   * so the bytes it copies miss page by page.
   */
  run(domain: string, space: AddressSpace, primitive: Primitive, n: number, isXen: boolean, buffers = 1, foreign = false): number {
    let misses = 0;
    const kernel = KERNEL_PAGES[primitive];
    const superpage = !isXen && space.superpages;
    // kernel objects: with superpages the direct map's entry (the model counts one); without, a page each
    if (!isXen && kernel) {
      if (superpage) misses += this.directMap(domain);
      else for (const k of this.pages(domain, primitive, kernel.pages)) misses += Number(this.touch(k));
    }
    const frames = BUFFER_PAGES[primitive];
    if (frames && n > 0) misses += superpage ? this.directMap(domain) : this.freshPages(n * frames.pages);
    const sides = BUFFERS_PER_BYTE_OP[primitive];
    if (sides && n > 0) {
      // `buffers` separate buffers (a batch of grant copies: one page each at least); another
      // domain's pages mapped in by grant are 4 KB mappings whatever the direct map is
      const pages = sides * Math.max(buffers, Math.ceil(n / PAGE));
      misses += superpage && !foreign ? this.directMap(domain) : this.freshPages(pages);
    }
    return misses;
  }

  /** The walk (0 or 1) of `domain`'s direct-map superpage. */
  private directMap(domain: string): number {
    return Number(this.touch(this.pages(domain, undefined, 1)[0]!));
  }

  /** `count` pages not seen since they were last recycled: a walk each. */
  private freshPages(count: number): number {
    for (let i = 0; i < count; i++) this.fill(this.fresh--, false); // a key never seen: no lookup
    return count;
  }

  /** The interned keys of `count` pages of `domain`'s `primitive` (none: its direct-map superpage). */
  private pages(domain: string, primitive: Primitive | undefined, count: number): number[] {
    let byPrimitive = this.ids.get(domain);
    if (!byPrimitive) this.ids.set(domain, (byPrimitive = new Map()));
    let ks = byPrimitive.get(primitive ?? '');
    if (!ks) byPrimitive.set(primitive ?? '', (ks = Array.from({ length: count }, () => this.nextId++)));
    return ks;
  }
}
