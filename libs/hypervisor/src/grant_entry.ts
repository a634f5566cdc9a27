import type { MachineMemory } from '@vnetlab/memory';
import { PAGE_SIZE } from '@vnetlab/memory';

/** Grant entry v1: { flags u16 @0, domid u16 @2, frame u32 @4 }, little endian. */
export const GRANT_ENTRY_SIZE = 8;
export const GRANT_ENTRIES_PER_FRAME = PAGE_SIZE / GRANT_ENTRY_SIZE;

export interface GrantEntry { flags: number; domid: number; frame: number }

/** Where entry `gref` lives in a table made of `grantFrames`. Caller checks the range. */
export function entryLocation(grantFrames: readonly number[], gref: number): { mfn: number; offset: number } {
  return {
    mfn: grantFrames[Math.floor(gref / GRANT_ENTRIES_PER_FRAME)],
    offset: (gref % GRANT_ENTRIES_PER_FRAME) * GRANT_ENTRY_SIZE,
  };
}

export function grantCapacity(grantFrames: readonly number[]): number {
  return grantFrames.length * GRANT_ENTRIES_PER_FRAME;
}

export function validGref(grantFrames: readonly number[], gref: unknown): gref is number {
  return typeof gref === 'number' && Number.isInteger(gref) && gref >= 0 && gref < grantCapacity(grantFrames);
}

/** One read of the whole entry, so that the checks see one consistent copy. */
export function readEntry(mem: MachineMemory, grantFrames: readonly number[], gref: number): GrantEntry {
  const { mfn, offset } = entryLocation(grantFrames, gref);
  const b = mem.read(mfn, offset, GRANT_ENTRY_SIZE);
  return { flags: b.readUInt16LE(0), domid: b.readUInt16LE(2), frame: b.readUInt32LE(4) };
}

export function writeFlags(mem: MachineMemory, grantFrames: readonly number[], gref: number, flags: number): void {
  const { mfn, offset } = entryLocation(grantFrames, gref);
  const b = Buffer.alloc(2);
  b.writeUInt16LE(flags & 0xffff, 0);
  mem.write(mfn, offset, b);
}

export function writeDomidFrame(mem: MachineMemory, grantFrames: readonly number[], gref: number, domid: number, frame: number): void {
  const { mfn, offset } = entryLocation(grantFrames, gref);
  const b = Buffer.alloc(6);
  b.writeUInt16LE(domid & 0xffff, 0);
  b.writeUInt32LE(frame >>> 0, 2);
  mem.write(mfn, offset + 2, b);
}

export function writeFrame(mem: MachineMemory, grantFrames: readonly number[], gref: number, frame: number): void {
  const { mfn, offset } = entryLocation(grantFrames, gref);
  const b = Buffer.alloc(4);
  b.writeUInt32LE(frame >>> 0, 0);
  mem.write(mfn, offset + 4, b);
}
