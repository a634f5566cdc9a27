export type BridgeErrorReason = 'port_exists' | 'unknown_port' | 'bad_option';

/** Misuse of the bridge's configuration API (frames never throw: they are dropped with a reason). */
export class BridgeError extends Error {
  override readonly name = 'BridgeError';
  constructor(readonly reason: BridgeErrorReason, message: string) {
    super(`${reason}: ${message}`);
  }
}
