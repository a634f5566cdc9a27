import { describe, it, expect } from 'vitest';
import { BufferMachineMemory } from '@vnetlab/memory';
import {
  GrantTableWriter, GTF_permit_access, GTF_readonly, GTF_accept_transfer, GTF_reading, GTF_transfer_completed,
  HypervisorError,
} from './index.js';

function setup() {
  const mem = new BufferMachineMemory(8);
  const frames = [5, 2, 7, 1];
  return { mem, frames, w: new GrantTableWriter(mem, frames) };
}

describe('GrantTableWriter', () => {
  it('holds 2048 entries in 4 frames', () => {
    expect(setup().w.capacity).toBe(2048);
  });

  it('writes the v1 entry layout into the right machine frame', () => {
    const { mem, w } = setup();
    w.grantAccess(513, 0x1234, 0xabcdef, true); // entry 1 of the second frame (mfn 2)
    const b = mem.read(2, 8, 8);
    expect(b.readUInt16LE(0)).toBe(GTF_permit_access | GTF_readonly);
    expect(b.readUInt16LE(2)).toBe(0x1234);
    expect(b.readUInt32LE(4)).toBe(0xabcdef);
  });

  it('refuses to end a grant while the grantee uses it', () => {
    const { mem, w } = setup();
    w.grantAccess(0, 1, 3, false);
    const flags = Buffer.alloc(2);
    flags.writeUInt16LE(GTF_permit_access | GTF_reading);
    mem.write(5, 0, flags); // as the hypervisor does while mapped
    expect(w.endAccess(0)).toBe(false);
    expect(w.entry(0).flags & GTF_permit_access).toBeTruthy();
    flags.writeUInt16LE(GTF_permit_access);
    mem.write(5, 0, flags);
    expect(w.endAccess(0)).toBe(true);
    expect(w.entry(0).flags).toBe(0);
  });

  it('revokes every unused grant an earlier run left behind, and keeps those still in use', () => {
    const { mem, w } = setup();
    w.grantAccess(0, 1, 3, false);
    w.grantAccess(7, 1, 4, true);
    w.grantTransfer(600, 1);
    const flags = Buffer.alloc(2);
    flags.writeUInt16LE(GTF_permit_access | GTF_reading);
    mem.write(5, 0, flags); // gref 0 is still mapped by the grantee
    expect(w.endAll()).toBe(2);
    expect(w.entry(7).flags).toBe(0);
    expect(w.entry(600).flags).toBe(0);
    expect(w.entry(0).flags & GTF_permit_access).toBeTruthy();
    // a fresh run may grant the freed entries again
    w.grantAccess(7, 1, 5, false);
  });

  it('will not overwrite a live grant, and rejects grefs outside the table', () => {
    const { w } = setup();
    w.grantAccess(7, 1, 3, false);
    expect(() => w.grantAccess(7, 2, 4, false)).toThrow(/still granted/);
    expect(() => w.grantTransfer(7, 2)).toThrow(HypervisorError);
    expect(() => w.grantAccess(2048, 1, 1, false)).toThrow(/gref 2048/);
    expect(() => w.endAccess(-1)).toThrow(HypervisorError);
  });

  it('reports a transferred frame only once the transfer completed', () => {
    const { mem, w } = setup();
    w.grantTransfer(3, 0);
    expect(w.entry(3).flags).toBe(GTF_accept_transfer);
    expect(w.transferredFrame(3)).toBeUndefined();
    const e = Buffer.alloc(8);
    e.writeUInt16LE(GTF_accept_transfer | GTF_transfer_completed, 0);
    e.writeUInt32LE(6, 4);
    mem.write(5, 24, e);
    expect(w.transferredFrame(3)).toBe(6);
  });
});
