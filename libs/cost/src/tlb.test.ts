import { describe, expect, it } from 'vitest';
import { CostTable, Cpu, DEFAULT_COSTS, KERNEL_PAGES, Ledger, NATIVE_SPACE, PhysicalCore, Tlb, XEN_2_SPACE } from './index.js';

const HZ = 2.8e9;
const misses = (l: Ledger, domain: string) => l.snapshot().filter((r) => r.domain === domain && r.primitive === 'tlb_miss').reduce((n, r) => n + r.ops, 0);

/** The textbook LRU (a Map in use order) that the TLB must behave as. */
class ReferenceLru {
  private readonly m = new Map<number, boolean>();
  constructor(private readonly cap: number) {}
  touch(k: number, global: boolean): boolean {
    const hit = this.m.delete(k);
    this.m.set(k, global);
    if (!hit && this.m.size > this.cap) this.m.delete(this.m.keys().next().value!);
    return !hit;
  }
  flush(): void {
    for (const [k, g] of this.m) if (!g) this.m.delete(k);
  }
  get size(): number {
    return this.m.size;
  }
}

describe('the data TLB', () => {
  it('answers as a textbook LRU over a long random run of lookups and flushes', () => {
    let seed = 7;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
    const t = new Tlb(8);
    const ref = new ReferenceLru(8);
    for (let i = 0; i < 20_000; i++) {
      if (rnd(50) === 0) {
        t.flush();
        ref.flush();
      } else {
        const k = rnd(14);
        const global = k < 2; // a few keys are the hypervisor's global entries
        expect(t.touch(k, global)).toBe(ref.touch(k, global));
      }
      expect(t.size).toBe(ref.size);
    }
  });

  it('is LRU of its capacity: the least recently used entry goes first', () => {
    const t = new Tlb(2);
    expect([t.touch('a'), t.touch('b'), t.touch('a')]).toEqual([true, true, false]);
    expect(t.touch('c')).toBe(true); // evicts b, the least recently used
    expect(t.touch('a')).toBe(false);
    expect(t.touch('b')).toBe(true);
  });

  it('a flush (CR3 load) keeps only the global entries', () => {
    const t = new Tlb();
    t.touch('g', true);
    t.touch('x');
    t.flush();
    expect(t.size).toBe(1);
    expect(t.touch('g', true)).toBe(false);
    expect(t.touch('x')).toBe(true);
  });

  it('without superpages a kernel operation walks one page per object, once, until a switch', () => {
    const t = new Tlb();
    const pages = KERNEL_PAGES.stack_rx!.pages;
    expect(t.run('vm1', XEN_2_SPACE, 'stack_rx', 1, false)).toBe(pages);
    expect(t.run('vm1', XEN_2_SPACE, 'stack_rx', 1, false)).toBe(0);
    t.flush();
    expect(t.run('vm1', XEN_2_SPACE, 'stack_rx', 1, false)).toBe(pages);
  });

  it('with superpages the kernel and its buffers are one entry', () => {
    const t = new Tlb();
    expect(t.run('os', NATIVE_SPACE, 'stack_rx', 1, false)).toBe(1);
    expect(t.run('os', NATIVE_SPACE, 'nic_driver_rx', 1, false)).toBe(0);
    expect(t.run('os', NATIVE_SPACE, 'copy_byte', 9000, false)).toBe(0);
    // another domain's pages, mapped in by grant: 4 KB mappings, walked page by page
    expect(t.run('os', NATIVE_SPACE, 'checksum_byte', 9000, false, 1, true)).toBe(3);
  });

  it('fresh buffers miss page by page, both sides of a copy, one page per copy of a batch at least', () => {
    const t = new Tlb();
    expect(t.run('vm1', XEN_2_SPACE, 'copy_byte', 1500, false)).toBe(2);
    expect(t.run('vm1', XEN_2_SPACE, 'copy_byte', 9000, false)).toBe(6);
    expect(t.run('vm1', XEN_2_SPACE, 'checksum_byte', 1500, false)).toBe(1);
    // the hypervisor's grant copies: temporary mappings whatever the domain maps with
    expect(t.run('xen', NATIVE_SPACE, 'copy_byte', 6000, true, 4)).toBe(8);
    // its own code and data: global superpages, never a walk
    expect(t.run('xen', XEN_2_SPACE, 'hypercall', 1, true)).toBe(0);
  });

  it('the frame a driver takes is a fresh page per frame; with superpages the direct map\'s entry', () => {
    const t = new Tlb();
    const kernel = KERNEL_PAGES.nic_driver_rx!.pages;
    expect(t.run('dom0', XEN_2_SPACE, 'nic_driver_rx', 4, false)).toBe(kernel + 4);
    expect(t.run('dom0', XEN_2_SPACE, 'nic_driver_rx', 4, false)).toBe(4);
    const s = new Tlb();
    expect(s.run('dom0', NATIVE_SPACE, 'nic_driver_rx', 4, false)).toBe(1);
    expect(s.run('dom0', NATIVE_SPACE, 'nic_driver_rx', 4, false)).toBe(0);
  });

  it('a full TLB evicts: a working set beyond 64 entries misses every time', () => {
    const t = new Tlb();
    for (let i = 0; i < 70; i++) t.touch(`p${i}`);
    let again = 0;
    for (let i = 0; i < 70; i++) again += Number(t.touch(`p${i}`));
    expect(again).toBe(70);
  });
});

describe('the Cpu charges TLB misses', () => {
  it('a domain switch costs the incoming domain a refill of what it touches; superpages make it one walk', () => {
    for (const [space, expected] of [[XEN_2_SPACE, KERNEL_PAGES.netback_rx!.pages], [NATIVE_SPACE, 1]] as const) {
      const ledger = new Ledger(new CostTable());
      const cpu = new Cpu('c0', HZ, ledger, new PhysicalCore('c0'));
      cpu.setAddressSpace('dom0', space);
      cpu.run(0, 'dom0', [['netback_rx', 1]]);
      cpu.run(0, 'dom0', [['netback_rx', 1]]);
      expect(misses(ledger, 'dom0')).toBe(expected); // the second finds them cached
      cpu.run(0, 'vm1', [['netfront_rx', 1]]);
      cpu.run(0, 'dom0', [['netback_rx', 1]]);
      expect(misses(ledger, 'dom0')).toBe(2 * expected); // the switch emptied the TLB
    }
  });

  it('the misses are priced at tlb_miss and occupy the CPU', () => {
    const ledger = new Ledger(new CostTable());
    const cpu = new Cpu('c0', HZ, ledger);
    const end = cpu.run(0, 'vm1', [['stack_rx', 1]]);
    const cycles = DEFAULT_COSTS.stack_rx.cycles + KERNEL_PAGES.stack_rx!.pages * DEFAULT_COSTS.tlb_miss.cycles;
    expect(end).toBeCloseTo((cycles / HZ) * 1e9, 6);
    expect(misses(ledger, 'vm1')).toBe(KERNEL_PAGES.stack_rx!.pages);
  });

  it('a hypervisor batch of grant copies walks two pages per copy', () => {
    const ledger = new Ledger(new CostTable());
    const cpu = new Cpu('c0', HZ, ledger);
    cpu.run(0, 'xen', [['hypercall', 1], ['grant_copy_op', 3], ['copy_byte', 4500]]);
    expect(misses(ledger, 'xen')).toBe(6);
  });
});
