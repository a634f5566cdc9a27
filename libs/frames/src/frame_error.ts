/** Why a frame could not be encoded or decoded. */
export type FrameErrorReason =
  | 'truncated'       // fewer bytes than the header (or a length field) needs
  | 'bad_checksum'    // a checksum that does not verify
  | 'bad_length'      // a length field that contradicts the bytes, or a payload too large
  | 'bad_version'     // IPv4 version field other than 4
  | 'bad_address'     // a MAC or IPv4 address string that does not parse
  | 'bad_field'       // a header field out of range (port > 65535, ttl > 255, ...)
  | 'unsupported'     // well-formed but not something this codec handles (e.g. ARP for IPv6)
  | 'not_vxlan'       // not IPv4/UDP to the VXLAN port: some other packet, not a malformed one
  | 'bad_flags';      // VXLAN header without the I flag (RFC 7348 section 5)

export class FrameError extends Error {
  override readonly name = 'FrameError';
  constructor(readonly reason: FrameErrorReason, message: string) {
    super(`${reason}: ${message}`);
  }
}

/** Throws FrameError('truncated') unless `buf` holds at least `need` bytes. */
export function needBytes(buf: Buffer, need: number, what: string): void {
  if (buf.length < need) throw new FrameError('truncated', `${what} needs ${need} bytes, got ${buf.length}`);
}

/** Throws FrameError('bad_field') unless v is an integer in [0, max]. */
export function checkUint(v: number, max: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new FrameError('bad_field', `${what} must be an integer in 0..${max}, got ${v}`);
}
