import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { InspectError, sessionTimeout } from './inspect_api.js';

const code = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return e instanceof InspectError ? grpc.status[e.code] : String(e);
  }
  return 'accepted';
};

describe('capture and trace timeouts', () => {
  it('0 is the default 10 s; a positive number up to the maximum is taken as it is', () => {
    expect(sessionTimeout(0, 3600)).toBe(10);
    expect(sessionTimeout(0.2, 3600)).toBe(0.2);
    expect(sessionTimeout(3600, 3600)).toBe(3600);
  });

  it('negative, NaN, infinite and over-long timeouts are refused as invalid arguments', () => {
    for (const t of [-0.5, -2147483648, Number.NaN, Infinity, 3601]) expect(code(() => sessionTimeout(t, 3600))).toBe('INVALID_ARGUMENT');
  });
});
