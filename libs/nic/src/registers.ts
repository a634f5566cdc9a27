// Register offsets of the e1000-style device an emulated NIC presents to its guest's driver
// (Intel 8254x Software Developer's Manual, section 13): ring bases, lengths, tails, and the
// interrupt cause register the driver reads on every interrupt.
export const E1000 = { TDBAL: 0x3800, TDLEN: 0x3808, TDT: 0x3818, RDBAL: 0x2800, RDLEN: 0x2808, RDT: 0x2818, ICR: 0x00c0 } as const;
