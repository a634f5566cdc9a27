import type { Primitive } from './primitive.js';

/**
 * The cost of one primitive operation. `cycles` is per operation (unit 'op') or per byte
 * (unit 'byte'); `source` says where the figure comes from — a paper and its table or
 * section, or a derivation that names its inputs; `measuredOn` is the CPU of that source.
 */
export interface CostEntry {
  cycles: number;
  unit: 'op' | 'byte';
  source: string;
  measuredOn: string;
  /**
   * The value is nanoseconds of latency on a device (e.g. the IOMMU walking its page
   * table), not CPU cycles: it is never charged to a CPU (CostTable.cycles refuses it,
   * CostTable.deviceNs reads it).
   */
  onDevice?: boolean;
}

/** The clock of the modelled era's reference CPU (Pentium 4 / Xeon, seed 004). */
export const REFERENCE_HZ = 2.8e9;

const P4_ERA = 'Pentium 4 / Xeon 2.4-2.8 GHz (derived)';

// Every figure below is for the Xen 2/3 era: Pentium 4 / Xeon (NetBurst) at 2.4-3 GHz,
// gigabit NICs. A figure measured on another CPU says so in `measuredOn` and is used in
// cycles unchanged (cycles, not nanoseconds, are what carries across clocks best).
export const DEFAULT_COSTS: Record<Primitive, CostEntry> = {
  hypercall: {
    cycles: 1080,
    unit: 'op',
    source:
      'Barham et al., "Xen and the Art of Virtualization", SOSP 2003, Table 3 (lmbench): null call 0.45 us. ' +
      'A hypercall is the same int/iret trap round trip into ring 0 (int 0x82 instead of int 0x80): ' +
      '0.45 us x 2.4 GHz = 1,080 cycles. Trap only; the work of the op is charged by its own primitive.',
    measuredOn: 'Intel Xeon 2.4 GHz (NetBurst)',
  },
  domain_switch: {
    cycles: 2786,
    unit: 'op',
    source:
      'seed 004 (Roy, citing OSDev "Context Switching"): a context switch on a P4 2.8 GHz costs 995 ns. ' +
      'The seed also says "= 2598 CPU cycles", which is 995 ns at 2.61 GHz, not 2.8 GHz; we keep the ' +
      'measured time and use 995 ns x 2.8 GHz = 2,786 cycles, so that a 2.8 GHz Cpu reproduces 995 ns. ' +
      'Hardware switch only (page-table switch, TLB refill excluded, as in the seed).',
    measuredOn: 'Pentium 4 2.8 GHz',
  },
  virq: {
    cycles: 1200,
    unit: 'op',
    source:
      'derived: delivering an event-channel upcall builds an exception frame in the guest kernel and ' +
      'returns through iret, i.e. one trap round trip (hypercall, 1,080) plus the evtchn_do_upcall scan of ' +
      'the two-level pending bitmap (~10%, estimate).',
    measuredOn: P4_ERA,
  },
  pirq: {
    cycles: 2000,
    unit: 'op',
    source:
      'derived: a physical interrupt taken by Xen = interrupt entry/exit (int/iret microcode, as hypercall: ' +
      '1,080) + IO-APIC/local-APIC acknowledge (2 uncached accesses, ~2 x mmio_write = 500) + do_IRQ dispatch ' +
      'and marking the bound event channel pending (~400, estimate).',
    measuredOn: P4_ERA,
  },
  evtchn_send: {
    cycles: 300,
    unit: 'op',
    source:
      'derived: EVTCHNOP_send inside Xen beyond the trap (charge hypercall once per call): look up the port, ' +
      'set the pending and selector bits with two locked bit operations (~100 cycles each on NetBurst) and ' +
      'kick the target vcpu (estimate).',
    measuredOn: P4_ERA,
  },
  grant_copy_op: {
    cycles: 800,
    unit: 'op',
    source:
      'derived: one GNTTABOP_copy entry beyond the trap and the bytes (charge copy_byte for len): validate ' +
      'both grant entries, set/clear GTF_reading|GTF_writing (2 cmpxchg), get_page/put_page on both frames ' +
      '(4 locked ops) and two map_domain_page (estimate: ~8 locked ops x 100 cycles).',
    measuredOn: P4_ERA,
  },
  grant_map: {
    cycles: 1500,
    unit: 'op',
    source:
      'derived: GNTTABOP_map_grant_ref beyond the trap: grant_copy_op validation (800) + writing the ' +
      'caller\'s PTE through the mm validation path (mod_l1_entry) and a maptrack handle (~700, estimate).',
    measuredOn: P4_ERA,
  },
  grant_unmap: {
    cycles: 2000,
    unit: 'op',
    source:
      'derived: GNTTABOP_unmap_grant_ref beyond the trap: clearing the PTE and releasing the grant (~800) + ' +
      'a TLB flush (CR3 reload on NetBurst, plus the refills it causes; ~1,200, estimate). Menon et al., ' +
      'USENIX ATC 2006, sec. 4, show that this remap cost dominates guest transmit.',
    measuredOn: P4_ERA,
  },
  grant_map_device: {
    cycles: 800,
    unit: 'op',
    source:
      'derived: GNTTABOP_map_grant_ref with GNTMAP_device_map and without GNTMAP_host_map, beyond the trap: ' +
      'grant_map (1,500) less its PTE write through mod_l1_entry (~700): the grant entry is validated and ' +
      'marked GTF_reading, the frame pinned (get_page) and a maptrack handle taken, and the frame\'s bus ' +
      'address returned; no page table is touched. Menon et al., USENIX ATC 2006, sec. 4.2: the driver domain ' +
      'needs only the header, so the payload is given to the NIC by machine address without remapping it.',
    measuredOn: P4_ERA,
  },
  grant_unmap_device: {
    cycles: 400,
    unit: 'op',
    source:
      'derived: GNTTABOP_unmap_grant_ref of a device-only mapping, beyond the trap: grant_unmap (2,000) less ' +
      'its TLB flush (~1,200, no CPU ever had the page mapped) and less clearing the PTE (~400, estimate: half ' +
      'the validated write of grant_map): clear GTF_reading and put_page (2 locked ops) and free the handle.',
    measuredOn: P4_ERA,
  },
  page_flip: {
    cycles: 5000,
    unit: 'op',
    source:
      'derived: GNTTABOP_transfer of one page = unmap from the giver with TLB flush (grant_unmap, 2,000) + ' +
      'owner change and m2p/p2m update (~1,000) + the receiver mapping the new frame (mmu_update, as ' +
      'grant_map 1,500) + bookkeeping (~500). Consistent with Menon et al. ATC 2006 finding copy cheaper ' +
      'than flip for 1,500-byte frames (grant_copy_op + 1,500 x copy_byte = 3,650 < 5,000).',
    measuredOn: P4_ERA,
  },
  copy_byte: {
    cycles: 1.9,
    unit: 'byte',
    source:
      'derived: a packet just written by DMA is not in cache, so memcpy is memory-bound. STREAM Copy on a ' +
      'P4 2.8 GHz with dual-channel DDR400 is ~3 GB/s (read + write counted), i.e. ~1.5 GB/s of copied ' +
      'data: 2.8e9 / 1.5e9 = 1.87 -> 1.9 cycles/byte.',
    measuredOn: 'Pentium 4 2.8 GHz, DDR400 (derived)',
  },
  checksum_byte: {
    cycles: 0.9,
    unit: 'byte',
    source:
      'derived: csum_partial reads each byte once (no write), memory-bound at ~3 GB/s on the same P4 ' +
      'system: 2.8e9 / 3e9 = 0.93 -> 0.9 cycles/byte. Charged per byte a TCP/UDP/ICMP checksum covers, by ' +
      'the guest stack on transmit unless its interface offloads checksums (then by the driver domain when ' +
      'the NIC cannot insert them, and by nobody when it can).',
    measuredOn: 'Pentium 4 2.8 GHz, DDR400 (derived)',
  },
  bridge_lookup: {
    cycles: 1518,
    unit: 'op',
    source:
      'derived from Emmerich et al., "Performance Characteristics of Virtual Switching", CloudNet 2014, ' +
      'Table I (seed 002), pNIC-pNIC on one core: Linux bridge 1.11 Mpps, Open vSwitch 1.88 Mpps, the rest of ' +
      'the path (NIC driver receive and transmit) being the same. The bridge costs what Open vSwitch\'s ' +
      'fast-path lookup costs (flow_lookup, 300) plus the difference per frame, (1/1.11 - 1/1.88) us x ' +
      '3.3 GHz = 1,218: 1,518 cycles (br_handle_frame, fdb lookup, br_forward and its netfilter hooks).',
    measuredOn: 'Intel Xeon E3-1230 V2 3.3 GHz',
  },
  netfront_tx: {
    cycles: 1500,
    unit: 'op',
    source:
      'derived: per frame netfront does a NIC driver\'s transmit bookkeeping with a ring request in place ' +
      'of a descriptor (claim a gref, write the grant entry, fill the request, gc the response), so it is ' +
      'taken equal to nic_driver_tx; grant, ring and event costs are charged by their own primitives.',
    measuredOn: P4_ERA,
  },
  netfront_rx: {
    cycles: 2300,
    unit: 'op',
    source:
      'derived: per frame netfront does a NIC driver\'s receive bookkeeping (take the response, end ' +
      'access, build the skb, refill a request), so it is taken equal to nic_driver_rx.',
    measuredOn: P4_ERA,
  },
  netback_tx: {
    cycles: 2300,
    unit: 'op',
    source:
      'derived: guest->world, netback receives a frame from a guest as a NIC driver receives one (copy out ' +
      'and validate the request, allocate the skb, hand it to the bridge), so it is taken equal to ' +
      'nic_driver_rx; grant ops and ring ops are charged by their own primitives.',
    measuredOn: P4_ERA,
  },
  netback_rx: {
    cycles: 1500,
    unit: 'op',
    source:
      'derived: world->guest, netback sends a frame to a guest as a NIC driver transmits one (take an rx ' +
      'request, build the copy/transfer op, write the response, free the skb), so it is taken equal to ' +
      'nic_driver_tx.',
    measuredOn: P4_ERA,
  },
  nic_driver_tx: {
    cycles: 1500,
    unit: 'op',
    source:
      'derived: native Linux TCP costs ~1 Hz per bit/s (Foong et al., "TCP Performance Re-Visited", ' +
      'ISPASS 2003), ~12,000 cycles per 1,500-byte frame; after the user copy (1,448 x copy_byte = 2,750) ' +
      'about 9,250 remain, of which the e1000 driver\'s share on transmit (descriptor write, dma map, ' +
      'clean of completed descriptors) is taken as 1,500 and the stack as the rest (stack_tx).',
    measuredOn: 'Pentium 4 Xeon (derived)',
  },
  nic_driver_rx: {
    cycles: 2300,
    unit: 'op',
    source:
      'derived as nic_driver_tx from Foong et al. ISPASS 2003 (~9,250 cycles per frame beyond the user ' +
      'copy): the e1000 receive share (descriptor read, dma unmap, skb alloc and refill, eth_type_trans) ' +
      'is taken as a quarter, 2,300.',
    measuredOn: 'Pentium 4 Xeon (derived)',
  },
  stack_tx: {
    cycles: 5000,
    unit: 'op',
    source:
      'derived: TCP/IP transmit per segment, socket to qdisc, excluding the data copy and checksum ' +
      '(charge copy_byte/checksum_byte): Foong et al. ISPASS 2003 budget for a frame minus the driver and ' +
      'copy, less than receive because the sender handles half as many ACKs per byte (estimate). The budget ' +
      'was measured with the NIC inserting checksums, so the checksum is not in it: a guest whose interface ' +
      'does not offload it pays checksum_byte per checksummed byte on top. Paid once per segment the stack ' +
      'builds, so once per large segment under TSO.',
    measuredOn: 'Pentium 4 Xeon (derived)',
  },
  stack_rx: {
    cycles: 7000,
    unit: 'op',
    source:
      'derived: TCP/IP receive per segment including the ACK it triggers and socket wakeup, excluding the ' +
      'copy to user and checksum: Foong et al. ISPASS 2003, 12,000 - 2,750 (copy) - 2,300 (driver) = ' +
      '~7,000 cycles per 1,500-byte frame. The receive checksum is not charged anywhere: the lab\'s receivers ' +
      'take frames as validated (as with NIC receive checksum offload or netback\'s NETRXF_data_validated).',
    measuredOn: 'Pentium 4 Xeon (derived)',
  },
  mmio_write: {
    cycles: 250,
    unit: 'op',
    source:
      'estimate: an uncached, posted store to a PCI BAR (doorbell); strongly ordered, so the core drains ' +
      'its store buffer first (~100 ns on a NetBurst FSB system).',
    measuredOn: P4_ERA,
  },
  dma_setup: {
    cycles: 200,
    unit: 'op',
    source:
      'estimate: dma_map_single for one buffer without an IOMMU: virt->bus translation, which in a Xen ' +
      'domain goes through the p2m table (pfn_to_mfn), plus cache-line bookkeeping.',
    measuredOn: P4_ERA,
  },
  ring_op: {
    cycles: 150,
    unit: 'op',
    source:
      'estimate: reading or writing one slot of a ring shared with another CPU: one cache-line transfer ' +
      'between sockets over the FSB plus a write barrier (~50 ns).',
    measuredOn: P4_ERA,
  },
  device_emulation: {
    cycles: 10000,
    unit: 'op',
    source:
      'Derived from Sugerman, Venkitachalam, Lim, "Virtualizing I/O Devices on VMware Workstation\'s ' +
      'Hosted Virtual Machine Monitor", USENIX ATC 2001 (seed 003, ref. 6): handling one trapped ' +
      'access to an emulated NIC register in the hosted device model costs on the order of tens of ' +
      'microseconds on a 733 MHz Pentium III once the world switch is included; without the world ' +
      'switch (charged here as vm_exit and domain_switch) the device model\'s own work is taken as ' +
      '~10,000 cycles. An estimate: the paper does not split the figure this way.',
    measuredOn: 'estimate for a 2.8 GHz Pentium 4 class CPU',
  },
  gso_segment: {
    cycles: 800,
    unit: 'op',
    source:
      'derived: Linux skb_segment (GSO, Herbert Xu 2006) per output segment for a scatter-gather NIC: ' +
      'allocate and initialise the segment\'s skb (kmem_cache_alloc, ~400), copy the 54 bytes of ' +
      'Ethernet/IPv4/TCP headers and rewrite the IPv4 length, id and header checksum and the TCP sequence ' +
      'number and flags (~200), take a reference on the payload\'s page fragments (1-2 get_page, locked ops, ' +
      '~100 each) (estimate). The payload is not copied: the NIC gathers it from the fragments. The TCP ' +
      'checksum of the segment, when the NIC cannot insert it, is charged as checksum_byte.',
    measuredOn: P4_ERA,
  },
  vm_exit: {
    cycles: 2000,
    unit: 'op',
    source:
      'Landau et al., "SplitX: Split Guest/Hypervisor Execution on Multi-Core", WIOV 2011: the direct ' +
      'cost of a VM exit and entry is ~2,000 cycles (fidelity.md). Charged per trapped device-register ' +
      'access of an emulated NIC.',
    measuredOn: 'Intel Xeon X5570 2.93 GHz',
  },
  flow_lookup: {
    cycles: 300,
    unit: 'op',
    source:
      'estimate: an Open vSwitch kernel fast-path hit = hash of the flow key plus one bucket read that ' +
      'misses cache. Emmerich et al. CloudNet 2014 Table I: OVS forwards 1.88 Mpps on one 3.3 GHz core ' +
      '(1,755 cycles per frame all in), so the lookup is a small part of that.',
    measuredOn: 'Intel Xeon E3-1230 V2 3.3 GHz (estimate)',
  },
  vxlan_encap: {
    cycles: 700,
    unit: 'op',
    source:
      'estimate: one route lookup for the outer header plus writing 50 bytes of Ethernet/IPv4/UDP/VXLAN ' +
      'headers and the IPv4 header checksum; the route lookup is taken as the extra cost of IP forwarding ' +
      'over OVS in Emmerich et al. Table I, (1/1.58 - 1/1.88) us x 3.3 GHz = 334, doubled for the headers.',
    measuredOn: 'Intel Xeon E3-1230 V2 3.3 GHz (estimate)',
  },
  ip_forward: {
    cycles: 634,
    unit: 'op',
    source:
      'derived from Emmerich et al. CloudNet 2014, Table I (seed 002), pNIC-pNIC on one 3.3 GHz core: Linux IP ' +
      'forwarding 1.58 Mpps against Open vSwitch 1.88 Mpps over the same driver path. Forwarding one IPv4 packet ' +
      '(ip_rcv, FIB lookup, TTL decrement and checksum update, neighbour output) costs the vswitch\'s lookup ' +
      '(flow_lookup, 300) plus the difference, (1/1.58 - 1/1.88) us x 3.3 GHz = 334: 634 cycles. Charged by a ' +
      'kernel with ip_forward on, in place of stack_rx, for each packet it forwards.',
    measuredOn: 'Intel Xeon E3-1230 V2 3.3 GHz',
  },
  iommu_map: {
    cycles: 800,
    unit: 'op',
    source:
      'derived: the hypervisor adding one 4 KiB page to a device\'s I/O page table, beyond the trap: check ' +
      'the frame\'s owner in the frame table and write one 8-byte entry through map_domain_page, the same ' +
      'work as the PTE half of grant_map (~700), plus a clflush of the entry\'s cache line because an ' +
      'IOMMU of the era does not snoop CPU caches (~100, estimate). No IOTLB flush: a not-present entry is ' +
      'never cached (Intel VT-d spec, caching mode off).',
    measuredOn: P4_ERA,
  },
  iommu_unmap: {
    cycles: 2800,
    unit: 'op',
    source:
      'derived: clearing one I/O page-table entry (as iommu_map, 800) + invalidating the IOTLB entry and ' +
      'waiting for the invalidation to complete (VT-d queued invalidation: an invalidation and a wait ' +
      'descriptor, then polling the status write; ~0.7 us, ~2,000 cycles, estimate). Ben-Yehuda et al., ' +
      '"The Price of Safety: Evaluating IOMMU Performance", OLS 2007, found unmapping with its IOTLB flush ' +
      'the dominant IOMMU cost, as grant_unmap with its TLB flush is for grants.',
    measuredOn: P4_ERA,
  },
  iommu_walk: {
    cycles: 220,
    unit: 'op',
    onDevice: true,
    source:
      'time on the device, not on a CPU: nanoseconds an IOMMU adds to a DMA on an IOTLB miss, charged by the ' +
      'NIC as DMA latency and never to a CPU. The lab\'s I/O page table has 2 levels, so a walk is 2 ' +
      'dependent DRAM reads by the chipset (~100 ns each on a DDR400 front-side-bus system, a little under ' +
      'the ~120 ns a CPU load sees because the FSB crossing is saved) + the IOTLB lookup and fill (~20 ns, ' +
      'estimate) = 220 ns.',
    measuredOn: 'chipset IOMMU, DDR400 (derived)',
  },
  cdna_validate: {
    cycles: 600,
    unit: 'op',
    source:
      'derived from the CDNA protection steps of Willmann et al., "Concurrent Direct Network Access for ' +
      'Virtual Machine Monitors", HPCA 2007 (seed 001): per buffer enqueued, beyond the trap, check that the ' +
      'calling guest owns the page (its page_info is usually a cache miss: ~120 ns = ~340 cycles), take a ' +
      'reference (get_page, one locked op, ~100), write the 16-byte descriptor into the ring (ring_op, 150) ' +
      'and record the buffer (~10, estimate).',
    measuredOn: P4_ERA,
  },
  cdna_complete: {
    cycles: 500,
    unit: 'op',
    source:
      'derived as cdna_validate (Willmann et al. HPCA 2007): per buffer dequeued, read the descriptor the ' +
      'NIC wrote back (a line the NIC just wrote by DMA, so a cache miss: ~340 cycles), drop the page ' +
      'reference (put_page, one locked op, ~100) and clear the slot (~60, estimate).',
    measuredOn: P4_ERA,
  },
  tlb_miss: {
    cycles: 190,
    unit: 'op',
    source:
      'estimate: the NetBurst hardware walker\'s two dependent loads of an x86-32 two-level walk: the page-directory ' +
      'entry, which stays cached (~20 cycles, an L2 hit), and the page-table entry of a page not touched recently, ' +
      'found in memory about half of the time (a cache miss, ~120 ns = ~340 cycles as for cdna_validate above, x 0.5 = 170): 20 + 170 = 190. ' +
      'Which accesses miss is decided by the data-TLB model (64 entries, LRU; see libs/cost/src/tlb.ts), not by this figure.',
    measuredOn: P4_ERA,
  },
};
