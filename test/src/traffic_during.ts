// A victim's running flows during an attack: bulk transfers through the operator API, one
// after another for as long as the attack runs, each with the conservation counters of its
// flows (sent = delivered + dropped + in flight).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { control } from '@vnetlab/proto';
import { grpcClient, unary } from '@vnetlab/runtime';

export interface BulkRun {
  bytesSent: number;
  bytesDelivered: number;
  flows: Array<{ flow: string; sentFrames: number; deliveredFrames: number; inFlight: number; drops: Record<string, number> }>;
}

/** One bulk SRC → DST through the operator API of the lab in `dir`. */
export async function operatorBulk(dir: string, src: string, dst: string, proto: 'tcp' | 'udp', bytes: number): Promise<BulkRun> {
  const { operatorAddr, operatorToken } = JSON.parse(readFileSync(join(dir, 'lab.json'), 'utf8')) as { operatorAddr: string; operatorToken?: string };
  const md = new grpc.Metadata();
  if (operatorToken) md.set('x-vnetlab-operator-token', operatorToken);
  const c = grpcClient(control.OperatorClient, operatorAddr);
  try {
    const r = await unary<control.BulkResponse>((cb) => c.bulk({ src, dst, proto, bytes, msgSize: 1472 }, md, { deadline: Date.now() + 120_000 }, cb));
    return { bytesSent: r.bytesSent, bytesDelivered: r.bytesDelivered, flows: r.flows.map((f) => ({ flow: f.flow, sentFrames: f.sentFrames, deliveredFrames: f.deliveredFrames, inFlight: f.inFlight, drops: f.drops })) };
  } finally {
    c.close();
  }
}

/**
 * Runs `attack` while bulks SRC → DST run back to back: the first starts before the attack,
 * and a new one starts as long as the attack has not finished, so that traffic is moving
 * throughout it. Returns the attack's result and every bulk.
 */
export async function duringTraffic<T>(dir: string, flow: { src: string; dst: string; proto: 'tcp' | 'udp'; bytes: number }, attack: () => Promise<T>): Promise<{ result: T; bulks: BulkRun[] }> {
  let attackDone = false;
  const bulks: BulkRun[] = [];
  let started!: () => void;
  const firstStarted = new Promise<void>((r) => (started = r));
  const traffic = (async () => {
    do {
      const b = operatorBulk(dir, flow.src, flow.dst, flow.proto, flow.bytes);
      started();
      bulks.push(await b);
    } while (!attackDone);
  })();
  traffic.catch(() => undefined); // its failure surfaces where it is awaited, below
  await firstStarted;
  // the bulk's frames are on their way before the attacker moves
  await new Promise((r) => setTimeout(r, 300));
  try {
    return { result: await attack(), bulks };
  } finally {
    attackDone = true;
    await traffic;
  }
}

/** What a bulk lost: bytes not delivered, and frames of its flows dropped or still in flight. */
export function losses(bulks: BulkRun[]): { bytesLost: number; framesDropped: number; inFlight: number; unbalanced: string[] } {
  const out = { bytesLost: 0, framesDropped: 0, inFlight: 0, unbalanced: [] as string[] };
  for (const b of bulks) {
    out.bytesLost += b.bytesSent - b.bytesDelivered;
    for (const f of b.flows) {
      const dropped = Object.values(f.drops).reduce((a, n) => a + n, 0);
      out.framesDropped += dropped;
      out.inFlight += f.inFlight;
      if (f.sentFrames !== f.deliveredFrames + dropped + f.inFlight) out.unbalanced.push(`${f.flow}: sent ${f.sentFrames}, delivered ${f.deliveredFrames}, dropped ${dropped}, in flight ${f.inFlight}`);
    }
  }
  return out;
}
