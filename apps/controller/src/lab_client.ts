// How a CLI verb reaches the running lab: the lab file, the controller's liveness, and a
// client of one of the operator's gRPC services.
import type * as grpc from '@grpc/grpc-js';
import { grpcClient } from '@vnetlab/runtime';
import { UsageError } from './args.js';
import { isAlive, labDir, readLab, type LabState } from './labfile.js';
import { operatorClientOptions } from './operator_auth.js';

/** The running lab, or a usage error saying why there is none to talk to. */
export function requireLab(f: Record<string, unknown>): LabState {
  const dir = labDir(f['lab-dir'] as string);
  const lab = readLab(dir);
  if (!lab || !isAlive(lab.controllerPid)) throw new UsageError(`no lab is running (looked in ${dir}); start one with: vnetlab up FILE`);
  if (lab.phase !== 'ready') throw new UsageError(`the lab is ${lab.phase}${lab.error ? ': ' + lab.error : ''}`);
  return lab;
}

/** Runs fn with a client of an operator service; a refusal from the lab reads as its reason, not as a gRPC status. */
export async function withOperatorClient<C extends { close(): void }, T>(
  f: Record<string, unknown>,
  ClientCtor: new (address: string, credentials: grpc.ChannelCredentials, options?: Partial<grpc.ClientOptions>) => C,
  fn: (c: C) => Promise<T>,
): Promise<T> {
  const { operatorAddr } = requireLab(f);
  const c = grpcClient(ClientCtor, operatorAddr, operatorClientOptions(operatorAddr));
  try {
    return await fn(c);
  } catch (e) {
    const details = (e as { details?: string }).details;
    throw details ? new Error(details) : e;
  } finally {
    c.close();
  }
}
