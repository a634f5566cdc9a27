// Decodes a hypercall from the wire, runs it on the hypervisor logic, and encodes the answer.
// Guest-supplied values are checked here for shape (integers in range); whether the guest
// may do what it asks is the hypervisor logic's business.
import { charges, type Charges, type Hypervisor, type GrantCopyOp, type GrantPtr } from '@vnetlab/hypervisor';
import { hypercall } from '@vnetlab/proto';

export interface HypercallOutcome {
  response: hypercall.HypercallResponse;
  op: string;
  /** Set for a successful EVTCHNOP_send: the upcall to deliver (at `tNs` when a storm's sends were coalesced into it). */
  event?: { domid: number; port: number; tNs?: number };
}

/** A hypercall message that did not decode, in place of the request (see decodeHypercall). */
export interface UndecodedHypercall {
  undecoded: string;
}

/**
 * The hypercall stream's deserializer: a message that does not decode becomes an
 * UndecodedHypercall for the handler to answer and count, instead of an error in grpc-js,
 * whose refusal left the stream open (and the caller waiting) while the domain kept its
 * side open — as a domain's stream always does. Found by the lab fuzzer.
 */
export function decodeHypercall(bytes: Buffer): hypercall.HypercallRequest | UndecodedHypercall {
  try {
    return hypercall.HypercallRequest.decode(bytes);
  } catch (e) {
    return { undecoded: e instanceof Error ? e.message : String(e) };
  }
}

export class MalformedHypercall extends Error {
  constructor(readonly reason: string, message: string) {
    super(message);
  }
}

const MAX_BATCH = 4096;

function u32(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new MalformedHypercall('bad_field', `${what} must be a u32, got ${String(v)}`);
  return v;
}

function ptr(p: hypercall.GrantPtr | undefined, what: string): GrantPtr {
  if (!p) throw new MalformedHypercall('bad_field', `${what} is missing`);
  const base = { domid: u32(p.domid, `${what}.domid`), offset: u32(p.offset, `${what}.offset`) };
  if (p.ref?.$case === 'gref') return { ...base, gref: u32(p.ref.value, `${what}.gref`) };
  if (p.ref?.$case === 'gfn') return { ...base, gfn: u32(p.ref.value, `${what}.gfn`) };
  throw new MalformedHypercall('bad_field', `${what} names neither a gref nor a gfn`);
}

/** A response with nothing in it yet; `status` and `error` for a refusal outside the logic. */
export function emptyResponse(seq: number, status = 0, error = ''): hypercall.HypercallResponse {
  return { seq, status, cycles: 0, statuses: [], mfn: 0, handle: 0, port: 0, error, target: undefined, charges: [], mfns: [], handles: [], tail: 0, accepted: 0, completed: [], coalesced: false, boots: 0 };
}

/** Runs one hypercall. Throws MalformedHypercall for a request that is not well-formed. */
export function runHypercall(hv: Hypervisor, req: hypercall.HypercallRequest): HypercallOutcome {
  const res = emptyResponse(req.seq);
  const caller = u32(req.caller, 'caller');
  // the trap's time is the time of the upcall an EVTCHNOP_send raises: a modelled time, or refused
  if (!(Number.isFinite(req.tNs) && req.tNs >= 0 && req.tNs <= Number.MAX_SAFE_INTEGER)) throw new MalformedHypercall('bad_time', `t_ns ${req.tNs} is not a modelled time (0..2^53 ns)`);
  if (!hv.hasDomain(caller)) throw new MalformedHypercall('unknown_domain', `caller ${caller} is not a domain of this host`);
  const op = req.op;
  if (!op) throw new MalformedHypercall('no_op', 'hypercall without an operation');
  const fill = (r: { status: number; cycles: number }) => {
    res.status = r.status;
    res.cycles = r.cycles;
  };
  let priced: Charges = charges.plain();
  switch (op.$case) {
    case 'grantCopy': {
      const ops = op.value.ops;
      if (ops.length === 0 || ops.length > MAX_BATCH) throw new MalformedHypercall('bad_batch', `grant copy batch of ${ops.length} ops (1..${MAX_BATCH})`);
      const parsed: GrantCopyOp[] = ops.map((o, i) => ({ source: ptr(o.source, `ops[${i}].source`), dest: ptr(o.dest, `ops[${i}].dest`), len: u32(o.len, `ops[${i}].len`) }));
      const results = hv.grantCopy(caller, parsed);
      res.statuses = results.map((r) => r.status);
      res.cycles = results.reduce((s, r) => s + r.cycles, 0);
      res.status = results.every((r) => r.status === 0) ? 0 : Math.min(...results.map((r) => r.status));
      priced = charges.grantCopy(parsed.length, parsed.reduce((n, o, i) => n + (results[i].status === 0 ? o.len : 0), 0));
      break;
    }
    case 'grantMap': {
      const r = hv.grantMap(caller, u32(op.value.granter, 'granter'), u32(op.value.gref, 'gref'), !!op.value.readonly, !!op.value.deviceOnly);
      fill(r);
      res.mfn = r.mfn < 0 ? 0 : r.mfn;
      res.handle = r.handle < 0 ? 0 : r.handle;
      priced = op.value.deviceOnly ? charges.grantMapDevice() : charges.grantMap();
      break;
    }
    case 'grantMapBatch': {
      const ops = op.value.ops;
      if (ops.length === 0 || ops.length > MAX_BATCH) throw new MalformedHypercall('bad_batch', `grant map batch of ${ops.length} ops (1..${MAX_BATCH})`);
      const rs = ops.map((o, i) => hv.grantMap(caller, u32(o.granter, `ops[${i}].granter`), u32(o.gref, `ops[${i}].gref`), !!o.readonly, !!o.deviceOnly));
      res.statuses = rs.map((r) => r.status);
      res.mfns = rs.map((r) => (r.mfn < 0 ? 0 : r.mfn));
      res.handles = rs.map((r) => (r.handle < 0 ? 0 : r.handle));
      res.cycles = rs.reduce((n, r) => n + r.cycles, 0);
      res.status = rs.every((r) => r.status === 0) ? 0 : Math.min(...rs.map((r) => r.status));
      priced = charges.grantMapBatch(ops.length, ops.filter((o) => o.deviceOnly).length);
      break;
    }
    case 'grantUnmapBatch': {
      const hs = op.value.handles;
      if (hs.length === 0 || hs.length > MAX_BATCH) throw new MalformedHypercall('bad_batch', `grant unmap batch of ${hs.length} ops (1..${MAX_BATCH})`);
      const rs = hs.map((h, i) => hv.grantUnmap(caller, u32(h, `handles[${i}]`)));
      res.statuses = rs.map((r) => r.status);
      res.cycles = rs.reduce((n, r) => n + r.cycles, 0);
      res.status = rs.every((r) => r.status === 0) ? 0 : Math.min(...rs.map((r) => r.status));
      priced = charges.grantUnmapBatch(hs.length, rs.filter((r) => r.device === true).length);
      break;
    }
    case 'cdnaEnqueue': {
      const v = op.value;
      if (v.buffers.length === 0 || v.buffers.length > MAX_BATCH) throw new MalformedHypercall('bad_batch', `cdna enqueue of ${v.buffers.length} buffers (1..${MAX_BATCH})`);
      // a buffer names one of the caller's guest frames, or (as a PV guest may) a machine frame
      const bufs = v.buffers.map((b, i) =>
        b.byMfn
          ? { mfn: u32(b.mfn, `buffers[${i}].mfn`), offset: u32(b.offset, `buffers[${i}].offset`), len: u32(b.len, `buffers[${i}].len`) }
          : { gfn: u32(b.gfn, `buffers[${i}].gfn`), offset: u32(b.offset, `buffers[${i}].offset`), len: u32(b.len, `buffers[${i}].len`) },
      );
      const r = hv.cdnaEnqueue(caller, u32(v.queueSet, 'queue_set'), v.rx ? 'rx' : 'tx', bufs);
      fill(r);
      res.tail = r.tail;
      res.accepted = r.accepted;
      priced = charges.cdnaEnqueue(r.validated);
      break;
    }
    case 'cdnaComplete': {
      const r = hv.cdnaCompleteDone(caller, u32(op.value.queueSet, 'queue_set'), op.value.rx ? 'rx' : 'tx', req.tNs);
      fill(r);
      res.completed = r.buffers.map((b) => ({ gfn: b.gfn ?? 0, offset: b.offset, len: b.len, doneLen: b.doneLen, doneNs: b.doneNs, ok: b.ok }));
      priced = r.buffers.length > 0 ? charges.cdnaComplete(r.buffers.length) : charges.plain();
      break;
    }
    case 'grantUnmap': {
      const r = hv.grantUnmap(caller, u32(op.value.handle, 'handle'));
      fill(r);
      priced = r.device ? charges.grantUnmapDevice() : charges.grantUnmap();
      break;
    }
    case 'grantTransfer':
      fill(hv.grantTransfer(caller, u32(op.value.gfn, 'gfn'), u32(op.value.toDomid, 'to_domid'), u32(op.value.gref, 'gref')));
      priced = charges.grantTransfer();
      break;
    case 'acceptTransfer': {
      const r = hv.acceptTransfer(caller, u32(op.value.gref, 'gref'), u32(op.value.gfn, 'gfn'));
      fill(r);
      res.mfn = r.mfn < 0 ? 0 : r.mfn;
      break;
    }
    case 'populatePhysmap': {
      const r = hv.populatePhysmap(caller, u32(op.value.gfn, 'gfn'));
      fill(r);
      res.mfn = r.mfn < 0 ? 0 : r.mfn;
      break;
    }
    case 'evtchnAllocUnbound': {
      const r = hv.evtchnAllocUnbound(caller, u32(op.value.remoteDomid, 'remote_domid'));
      fill(r);
      res.port = r.port;
      break;
    }
    case 'evtchnBindInterdomain': {
      const r = hv.evtchnBindInterdomain(caller, u32(op.value.remoteDomid, 'remote_domid'), u32(op.value.remotePort, 'remote_port'));
      fill(r);
      res.port = r.port;
      break;
    }
    case 'evtchnSend': {
      const r = hv.evtchnSend(caller, u32(op.value.port, 'port'), req.tNs);
      fill(r);
      res.coalesced = r.coalesced === true;
      priced = charges.evtchnSend();
      res.charges = priced.map(([primitive, count]) => ({ primitive, count }));
      if (r.target) {
        res.target = { domid: r.target.domid, port: r.target.port, atNs: r.target.atNs ?? 0 };
        return { response: res, op: op.$case, event: { domid: r.target.domid, port: r.target.port, ...(r.target.atNs !== undefined ? { tNs: r.target.atNs } : {}) } };
      }
      break;
    }
    case 'p2mWrite':
      fill(hv.p2mWrite(caller, u32(op.value.gfn, 'gfn'), u32(op.value.mfn, 'mfn')));
      break;
    case 'softReset': {
      const r = hv.softReset(caller);
      fill(r);
      res.port = r.ports;
      res.boots = r.boots;
      break;
    }
    case 'bindPirq': {
      const port = hv.bindPirq(caller, u32(op.value.irq, 'irq'));
      res.port = port;
      res.status = port >= 0 ? 0 : port;
      break;
    }
    default:
      throw new MalformedHypercall('no_op', 'unknown hypercall');
  }
  if (res.status < 0 && !res.error) res.error = `status ${res.status}`;
  res.charges = priced.map(([primitive, count]) => ({ primitive, count }));
  return { response: res, op: op.$case };
}
