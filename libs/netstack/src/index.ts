export { NetStack, TSO_MAX_PAYLOAD, type NetStackOptions, type NetStackStats, type FlowStats } from './net_stack.js';
export { type StackOutput, type StackEvent, emptyOutput } from './stack_output.js';
export { NetStackError, type NetStackErrorReason } from './netstack_error.js';
export { ArpTable, type ArpTableOptions, type EnqueueResult } from './arp_table.js';
export { TcpBulkSender, type TcpSenderState, type TcpSenderStats } from './tcp_bulk_sender.js';
export { TcpSink, type TcpSinkState, type TcpSinkStats } from './tcp_sink.js';
export { TCP_WINDOW, DEFAULT_TCP_TIMERS, type TcpIo, type TcpTimerOptions } from './tcp_io.js';
export { UdpBulk } from './udp_bulk.js';
export { BytePattern, flowSeed } from './byte_pattern.js';
export { seqDiff, seqAdd } from './tcp_seq.js';
/** The port every endpoint of the lab receives bulk transfers on (UDP bound, TCP listening), as iperf's 5001. */
export const SINK_PORT = 5001;
