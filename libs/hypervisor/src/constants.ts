// Domain ids with a special meaning (xen/include/public/xen.h).
export const DOMID_FIRST_RESERVED = 0x7ff0;
export const DOMID_SELF = 0x7ff0;
export const DOMID_XEN = 0x7ff2;
/** Frame-table owner of a frame that belongs to nobody. */
export const FRAME_FREE = -1;
/** A p2m slot with no machine frame behind it. */
export const INVALID_MFN = -1;

// Grant entry flags (grant_table.h, v1).
export const GTF_permit_access = 1;
export const GTF_accept_transfer = 2;
export const GTF_readonly = 4;
export const GTF_reading = 8;
export const GTF_writing = 16;
export const GTF_transfer_completed = 32;
/** The low bits that say what the entry is (Xen's GTF_type_mask). */
export const GTF_type_mask = GTF_permit_access | GTF_accept_transfer;

// Grant-table hypercall statuses (GNTST_*).
export const GNTST_okay = 0;
export const GNTST_general_error = -1;
export const GNTST_bad_domain = -2;
export const GNTST_bad_gntref = -4;
export const GNTST_bad_handle = -5;
export const GNTST_bad_virt_addr = -6;
export const GNTST_permission_denied = -8;
export const GNTST_bad_page = -9;
export const GNTST_bad_copy_arg = -10;

// Event-channel statuses: Xen returns negative errno values for EVTCHNOP_*.
export const EVTCHN_OK = 0;
export const EVTCHN_EPERM = -1;
export const EVTCHN_ESRCH = -3;   // no such domain
export const EVTCHN_EBUSY = -16;
export const EVTCHN_EINVAL = -22; // bad or wrong-state port
export const EVTCHN_ENOSPC = -28; // port table full

/** Grant-table frames every domain gets: 4 × 4096 / 8 = 2048 entries. */
export const GRANT_FRAMES_PER_DOMAIN = 4;
/** Event-channel ports per domain (the 2-level ABI on 64-bit guests). Port 0 is never valid. */
export const EVTCHN_PORTS_PER_DOMAIN = 4096;

// Statuses of the IOMMU and CDNA hypercalls: negative errno values, as Xen returns them.
export const XEN_OK = 0;
export const XEN_EPERM = -1;
export const XEN_ESRCH = -3;
export const XEN_EAGAIN = -11;
export const XEN_ENOMEM = -12;
export const XEN_EINVAL = -22;
export const XEN_ENOSPC = -28;
