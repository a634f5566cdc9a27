/** Why the hypervisor refused a guest's request. */
export type ViolationKind =
  | 'bad_domain' | 'bad_gref' | 'bad_copy_arg' | 'bad_page' | 'bad_handle' | 'out_of_memory'
  | 'grant_not_granted' | 'grant_readonly_write' | 'grant_foreign_page'
  | 'transfer_not_owner' | 'transfer_not_granted' | 'transfer_busy' | 'transfer_ref_used'
  | 'accept_not_transferred' | 'page_busy'
  | 'evtchn_bad_port' | 'evtchn_not_offered' | 'evtchn_no_space' | 'evtchn_storm'
  | 'pirq_not_permitted' | 'pirq_busy'
  | 'iommu_foreign_page' | 'iommu_bad_context' | 'iommu_bad_argument'
  | 'cdna_foreign_buffer' | 'cdna_bad_buffer' | 'cdna_bad_queue' | 'cdna_not_done';

export interface Violation { kind: ViolationKind; domid: number; detail: string }

/**
 * Refused operations, newest last. Bounded, so that a hostile guest cannot grow the
 * hypervisor's memory without limit; `counts` keeps the totals by kind.
 */
export class ViolationLog {
  readonly entries: Violation[] = [];
  readonly counts = new Map<ViolationKind, number>();
  total = 0;

  constructor(private readonly limit: number) {}

  record(kind: ViolationKind, domid: number, detail: string): void {
    this.entries.push({ kind, domid, detail });
    if (this.entries.length > this.limit) this.entries.shift();
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1);
    this.total++;
  }
}
