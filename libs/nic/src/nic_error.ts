export type NicErrorReason =
  | 'bad_queue_set'
  | 'not_configured'
  | 'bad_config'
  | 'bad_tail'
  | 'bad_time'
  | 'bad_frame'
  | 'out_of_pages'
  | 'not_set_up';

/** Bad input to the NIC or its driver (a programming or configuration error, not a drop). */
export class NicError extends Error {
  constructor(
    readonly reason: NicErrorReason,
    message: string,
  ) {
    super(message);
    this.name = 'NicError';
  }
}
