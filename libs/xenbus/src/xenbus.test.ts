import { describe, expect, it } from 'vitest';
import { MemoryStore, XenbusState, backendDir, frontendDir, readKeys, setState, waitForState, waitForValue } from './index.js';

describe('xenbus handshake over a store', () => {
  it('a watcher sees a state written after it started waiting', async () => {
    const store = new MemoryStore();
    const fe = frontendDir('h', 3);
    const waiting = waitForState(store, fe, [XenbusState.Connected]);
    await setState(store, fe, XenbusState.Initialising);
    await setState(store, fe, XenbusState.Connected);
    await expect(waiting).resolves.toBe(XenbusState.Connected);
  });

  it('a state already reached resolves at once', async () => {
    const store = new MemoryStore();
    const be = backendDir('h', 0, 3);
    await setState(store, be, XenbusState.InitWait);
    await expect(waitForState(store, be, [XenbusState.InitWait, XenbusState.Connected])).resolves.toBe(XenbusState.InitWait);
  });

  it('times out naming the directory when the peer never arrives', async () => {
    const store = new MemoryStore();
    await expect(waitForState(store, frontendDir('h', 9), [XenbusState.Connected], 50)).rejects.toThrow(/h\.local\.domain\.9\.device\.vif\.0\.state/);
  });

  it('readKeys names a missing key', async () => {
    const store = new MemoryStore();
    const fe = frontendDir('h', 1);
    await store.write(`${fe}.tx-ring-ref`, '8');
    await expect(readKeys(store, fe, ['tx-ring-ref', 'rx-ring-ref'])).rejects.toThrow(/rx-ring-ref is missing/);
  });

  it('watch does not report keys outside the prefix that share its text', async () => {
    const store = new MemoryStore();
    const seen: string[] = [];
    await store.watch('h.local.domain.1', (e) => seen.push(e.path));
    await store.write('h.local.domain.10.x', '1');
    await store.write('h.local.domain.1.x', '1');
    await new Promise((r) => setTimeout(r, 0));
    expect(seen).toEqual(['h.local.domain.1.x']);
  });
});

describe('waitForValue', () => {
  it('resolves with the first value it accepts, written before or after it started waiting, and names the key on a timeout', async () => {
    const store = new MemoryStore();
    await store.write('h.local.domain.1.control.suspended', '');
    const waiting = waitForValue(store, 'h.local.domain.1.control.suspended', (v) => v !== '', 5_000, 'was not written');
    await store.write('h.local.domain.1.control.suspended.other', '7'); // a key below it is not it
    await store.write('h.local.domain.1.control.suspended', '1234');
    expect(await waiting).toBe('1234');
    await expect(waitForValue(store, 'h.nothing', () => true, 10, 'was not written')).rejects.toThrow(/h.nothing was not written in 10 ms/);
  });
});
