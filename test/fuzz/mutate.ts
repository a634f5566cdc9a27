// Mutations of wire messages: bytes that are not a message (random, truncated, bit-flipped,
// oversized) and messages that are well-formed but carry values no sender should send (huge
// and negative numbers, NaN times, unknown enum values, names of things that do not exist,
// empty and huge repeated fields).
import type { Prng } from './prng.js';

/** What the lab's names and numbers look like, to build wrong ones from. */
export interface HostilePools {
  /** Names that exist somewhere in the lab, used in the wrong place. */
  names: string[];
  /** Numbers just past what exists (domids, ports, queue sets...). */
  numbers: number[];
}

export const NUMBERS: readonly number[] = [
  -1, -2147483648, 2147483647, 2147483648, 4294967295, 4294967296, 2 ** 53, 2 ** 53 + 2, 2 ** 64, 1e300, -1e300,
  Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0, 0.5, -0.5, Number.MIN_VALUE, 65535, 65536, 0x7ff0,
];

export function hostileNumber(rng: Prng, pools: HostilePools): number {
  return rng.weighted<() => number>([
    [6, () => rng.pick(NUMBERS)],
    [2, () => (pools.numbers.length ? rng.pick(pools.numbers) : rng.u32())],
    [2, () => rng.u32()],
    [1, () => -rng.u32()],
    [1, () => rng.float() * 1e18],
  ])();
}

export function hostileString(rng: Prng, pools: HostilePools): string {
  return rng.weighted<() => string>([
    [3, () => ''],
    [3, () => (pools.names.length ? rng.pick(pools.names) : 'x')],
    [2, () => rng.pick(pools.names.length ? pools.names : ['x']) + rng.pick(['x', '9', '.', '*', '>', ' ', '\u0000', '/..'])],
    [2, () => 'x'.repeat(rng.pick([256, 4096, 65536]))],
    [1, () => 'x'.repeat(rng.range(200_000, 700_000))],
    [2, () => rng.bytes(rng.range(1, 64)).toString('latin1')],
    [1, () => '\u{1F4A5}'.repeat(rng.range(1, 1000))],
    [1, () => rng.pick(['zz:zz:zz:zz:zz:zz', '00:16:3e', '999.1.1.1', '10.0.0', '::1', 'priority=', 'actions=drop', '-1', 'NaN'])],
  ])();
}

export function hostileBytes(rng: Prng): Uint8Array {
  return rng.weighted<() => Uint8Array>([
    [2, () => new Uint8Array(0)],
    [2, () => rng.bytes(rng.range(1, 13))],
    [2, () => rng.bytes(rng.range(14, 1600))],
    [1, () => rng.bytes(9018)],
    [1, () => rng.bytes(rng.range(65_536, 70_000))],
    [1, () => rng.bytes(rng.range(400_000, 900_000))],
  ])();
}

type Leaf = { get: () => unknown; set: (v: unknown) => void; isArray: boolean };

/** Every changeable place of a decoded message: scalars, bytes, repeated fields, sub-messages. */
function leaves(obj: unknown, out: Leaf[] = []): Leaf[] {
  if (obj === null || typeof obj !== 'object' || obj instanceof Uint8Array) return out;
  const rec = obj as Record<string, unknown>;
  for (const key of Object.keys(rec)) {
    const v = rec[key];
    if (key === '$case') continue;
    const leaf: Leaf = { get: () => rec[key], set: (x) => (rec[key] = x), isArray: Array.isArray(v) };
    if (Array.isArray(v)) {
      out.push(leaf);
      v.forEach((x, i) => {
        if (x !== null && typeof x === 'object' && !(x instanceof Uint8Array)) leaves(x, out);
        else out.push({ get: () => v[i], set: (y) => (v[i] = y), isArray: false });
      });
    } else if (v !== null && typeof v === 'object' && !(v instanceof Uint8Array)) {
      out.push(leaf); // a sub-message may also go missing
      leaves(v, out);
    } else out.push(leaf);
  }
  return out;
}

function deepClone<T>(v: T): T {
  if (v instanceof Uint8Array) return new Uint8Array(v) as unknown as T;
  if (Array.isArray(v)) return v.map(deepClone) as unknown as T;
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, deepClone(x)])) as T;
  return v;
}

/** Bytes a huge repeated field may hold: a message near the transports' limits, not past them. */
const MAX_REPEATED_BYTES = 1_000_000;

/** Roughly the encoded size of a value (bytes and strings at their length, scalars at 8). */
export function approxSize(v: unknown): number {
  if (v instanceof Uint8Array) return v.byteLength + 2;
  if (typeof v === 'string') return v.length + 2;
  if (Array.isArray(v)) return v.reduce((n: number, x) => n + approxSize(x), 0);
  if (v !== null && typeof v === 'object') return Object.values(v).reduce((n: number, x) => n + approxSize(x), 2);
  return 8;
}

/** A copy of `msg` with 1..3 of its fields set to hostile values of their own type. */
export function mutateMessage<T>(msg: T, rng: Prng, pools: HostilePools): T {
  const copy = deepClone(msg);
  const ls = leaves(copy);
  if (ls.length === 0) return copy;
  for (let n = rng.range(1, 3); n > 0; n--) {
    const leaf = rng.pick(ls);
    const v = leaf.get();
    if (leaf.isArray) {
      const arr = v as unknown[];
      if (arr.length === 0 || rng.chance(0.4)) leaf.set([]);
      else {
        // a huge repeated field, bounded so that it still fits one message (about 1 MB)
        const each = Math.max(1, approxSize(arr) / arr.length);
        const count = Math.min(rng.pick([64, 1000, 10_000, 100_000]), Math.max(1, Math.floor(MAX_REPEATED_BYTES / each)));
        leaf.set(Array.from({ length: count }, (_, i) => deepClone(arr[i % arr.length])));
      }
    } else if (typeof v === 'number') leaf.set(hostileNumber(rng, pools));
    else if (typeof v === 'string') leaf.set(hostileString(rng, pools));
    else if (typeof v === 'boolean') leaf.set(!v);
    else if (v instanceof Uint8Array) leaf.set(hostileBytes(rng));
    else if (v !== null && typeof v === 'object') {
      if (rng.chance(0.3)) leaf.set(undefined);
    }
  }
  return copy;
}

/** Bytes that are not a message: random, of a length drawn to hit both tiny and large. */
export function randomBytes(rng: Prng): Buffer {
  return rng.bytes(rng.weighted<number>([[3, rng.range(0, 16)], [4, rng.range(17, 256)], [2, rng.range(257, 4096)], [1, rng.range(4097, 65536)]]));
}

/** A valid encoding cut short (never the whole of it). */
export function truncate(bytes: Uint8Array, rng: Prng): Buffer {
  if (bytes.length === 0) return Buffer.alloc(0);
  return Buffer.from(bytes.subarray(0, rng.int(bytes.length)));
}

/** A valid encoding with a few bits flipped or bytes overwritten. */
export function bitflip(bytes: Uint8Array, rng: Prng): Buffer {
  const out = Buffer.from(bytes);
  if (out.length === 0) return rng.bytes(rng.range(1, 8));
  for (let n = rng.range(1, Math.max(1, Math.min(8, out.length >> 2))); n > 0; n--) {
    const i = rng.int(out.length);
    if (rng.chance(0.5)) out[i]! ^= 1 << rng.int(8);
    else out[i] = rng.pick([0x00, 0xff, 0x7f, 0x80, rng.int(256)]);
  }
  return out;
}

/** Bytes near `limit` (a transport's largest message): a valid message padded, or random. */
export function oversized(valid: Uint8Array, limit: number, rng: Prng): Buffer {
  const size = Math.max(1, limit - rng.int(Math.min(65_536, limit >> 2)));
  if (rng.chance(0.5)) return rng.bytes(size);
  // the valid message followed by one long unknown length-delimited field (field 2047):
  // a decoder that skips unknown fields sees a valid, huge message
  const tag = Buffer.from([0xfa, 0x7f]);
  const room = size - valid.length - tag.length - 5;
  if (room <= 0) return rng.bytes(size);
  const len: number[] = [];
  for (let v = room; ; ) {
    if (v < 0x80) {
      len.push(v);
      break;
    }
    len.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  return Buffer.concat([Buffer.from(valid), tag, Buffer.from(len), Buffer.alloc(room, 0x41)]);
}
