import type { MachineMemory } from '@vnetlab/memory';
import {
  GTF_accept_transfer, GTF_permit_access, GTF_readonly, GTF_reading, GTF_transfer_completed,
  GTF_type_mask, GTF_writing,
} from './constants.js';
import { HypervisorError } from './errors.js';
import { grantCapacity, readEntry, validGref, writeDomidFrame, writeFlags, type GrantEntry } from './grant_entry.js';

/**
 * A guest's hand on its own grant table, which sits in machine frames the hypervisor gave
 * it (Xen v1 grant tables: the guest writes entries directly, the hypervisor reads them at
 * hypercall time). The frame field of an access grant holds a gfn of the granting domain.
 *
 * Entries are written domid+frame first and flags last, so that the hypervisor never sees
 * a valid flags word over a half-written entry.
 */
export class GrantTableWriter {
  readonly capacity: number;

  constructor(private readonly mem: MachineMemory, private readonly grantFrames: number[]) {
    this.grantFrames = grantFrames.slice();
    this.capacity = grantCapacity(this.grantFrames);
  }

  private check(gref: number): void {
    if (!validGref(this.grantFrames, gref)) {
      throw new HypervisorError('bad_gref', `gref ${gref} outside the grant table (0..${this.capacity - 1})`);
    }
  }

  private checkFree(gref: number): void {
    const e = readEntry(this.mem, this.grantFrames, gref);
    if ((e.flags & GTF_type_mask) !== 0) {
      throw new HypervisorError('gref_in_use', `gref ${gref} is still granted (flags ${e.flags}); end it first`);
    }
  }

  /** Lets `domid` copy from (and, unless readonly, to) or map page `gfn`. */
  grantAccess(gref: number, domid: number, gfn: number, readonly: boolean): void {
    this.check(gref);
    if (!Number.isInteger(domid) || domid < 0 || domid > 0xffff) throw new HypervisorError('bad_domain', `domid ${domid} is not a u16`);
    if (!Number.isInteger(gfn) || gfn < 0 || gfn > 0xffffffff) throw new HypervisorError('bad_argument', `gfn ${gfn} is not a u32`);
    this.checkFree(gref);
    writeDomidFrame(this.mem, this.grantFrames, gref, domid, gfn);
    writeFlags(this.mem, this.grantFrames, gref, GTF_permit_access | (readonly ? GTF_readonly : 0));
  }

  /** Lets `domid` transfer (flip) one page to us through this entry. */
  grantTransfer(gref: number, domid: number): void {
    this.check(gref);
    if (!Number.isInteger(domid) || domid < 0 || domid > 0xffff) throw new HypervisorError('bad_domain', `domid ${domid} is not a u16`);
    this.checkFree(gref);
    writeDomidFrame(this.mem, this.grantFrames, gref, domid, 0);
    writeFlags(this.mem, this.grantFrames, gref, GTF_accept_transfer);
  }

  /**
   * Revokes the grant. Returns false (and leaves it) while the grantee has it mapped or is
   * using it (GTF_reading/GTF_writing), as gnttab_end_foreign_access_ref does.
   */
  endAccess(gref: number): boolean {
    this.check(gref);
    const e = readEntry(this.mem, this.grantFrames, gref);
    if (e.flags & (GTF_reading | GTF_writing)) return false;
    // Not a compare-and-swap across processes: the hypervisor keeps its own count of
    // active mappings and does not rely on these bits to keep a frame alive.
    writeFlags(this.mem, this.grantFrames, gref, 0);
    return true;
  }

  /**
   * Revokes every grant of the table that nobody is using (a guest's network driver starting
   * over after its earlier run left grants behind); returns how many it revoked.
   */
  endAll(): number {
    let n = 0;
    for (let gref = 0; gref < this.capacity; gref++) {
      const e = readEntry(this.mem, this.grantFrames, gref);
      if ((e.flags & GTF_type_mask) !== 0 && this.endAccess(gref)) n++;
    }
    return n;
  }

  /** The machine frame delivered into a transfer entry, once the transfer completed. */
  transferredFrame(gref: number): number | undefined {
    this.check(gref);
    const e = readEntry(this.mem, this.grantFrames, gref);
    if ((e.flags & GTF_accept_transfer) && (e.flags & GTF_transfer_completed)) return e.frame;
    return undefined;
  }

  /** The entry as it sits in memory now (for tests and diagnostics). */
  entry(gref: number): GrantEntry {
    this.check(gref);
    return readEntry(this.mem, this.grantFrames, gref);
  }
}
