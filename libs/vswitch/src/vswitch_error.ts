export type VswitchErrorReason =
  | 'port_exists'   // addPort with a name already on the switch
  | 'unknown_port'  // a port name that is not on the switch
  | 'bad_option'    // an option or port setting out of range
  | 'bad_vni'       // a VNI outside 1..2^24-1 (0 is the untunnelled domain)
  | 'bad_vtep'      // a remote VTEP that cannot be used as configured
  | 'flow_syntax';  // a flow text that does not parse

/** Misuse of the switch's configuration API. Frames never throw: they are dropped with a reason. */
export class VswitchError extends Error {
  override readonly name: string = 'VswitchError';
  constructor(readonly reason: VswitchErrorReason, message: string) {
    super(`${reason}: ${message}`);
  }
}

/** A flow in ovs-ofctl syntax that does not parse; `token` is the offending piece of text. */
export class FlowSyntaxError extends VswitchError {
  override readonly name: string = 'FlowSyntaxError';
  constructor(message: string, readonly text: string, readonly token?: string) {
    super('flow_syntax', `${message} in "${text}"`);
  }
}
