// lab.json: what a running lab is made of, written by the controller and read by the CLI.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { ServicePlan } from './plan.js';
import { newOperatorToken, rememberOperatorToken } from './operator_auth.js';

export interface ServiceState extends ServicePlan {
  pid?: number;
  metricsUrl: string;
  grpcAddr: string;
  healthy?: boolean;
  /** The token a call to its gRPC control plane must carry (libs/runtime control_auth.ts); it alone was given it. */
  controlToken?: string;
}

export interface LabState {
  name: string;
  topologyFile: string;
  controllerPid: number;
  operatorAddr: string;
  /** The operator API's credential (operator_auth.ts): the reason this file is the operator's alone (0600). */
  operatorToken?: string;
  natsUrl: string;
  natsPid?: number;
  /** Prometheus started with `up --with-prometheus`. */
  prometheusUrl?: string;
  prometheusPid?: number;
  memDir: string;
  phase: 'starting' | 'ready' | 'failed' | 'stopping' | 'stopped';
  error?: string;
  startedAt: string;
  readyMs?: number;
  services: ServiceState[];
  /** Service processes that died while the lab ran (killed, crashed, or stopped by a restart). */
  deaths?: ServiceDeath[];
}

export interface ServiceDeath {
  service: string;
  /** The service's kind (guest, driver-domain, nic, hypervisor, fabric), or 'nats' for the bus. */
  kind: string;
  host?: string;
  /** Wall-clock time of the exit, ms since the epoch. */
  atMs: number;
  /** How, for a person: "signal SIGKILL", "exit code 1", "connection lost". */
  how: string;
}

export function labDir(explicit?: string): string {
  return resolve(explicit ?? process.env.VNETLAB_HOME ?? '.vnetlab');
}

export function labFile(dir: string): string {
  return join(dir, 'lab.json');
}

export function readLab(dir: string): LabState | undefined {
  const f = labFile(dir);
  if (!existsSync(f)) return undefined;
  const lab = JSON.parse(readFileSync(f, 'utf8')) as LabState;
  // calls to this lab's operator API carry its token from now on
  rememberOperatorToken(lab.operatorAddr, lab.operatorToken);
  return lab;
}

/** Written atomically so that a CLI polling it never reads half a file. */
export function writeLab(dir: string, state: LabState): void {
  mkdirSync(dir, { recursive: true });
  const tmp = labFile(dir) + '.tmp';
  writeFileSync(tmp, JSON.stringify(state, null, 2), { mode: 0o600 });
  renameSync(tmp, labFile(dir));
}

/** The lab file of a controller that is starting: its identity, a fresh operator token, no service up yet. */
export function startingLab(name: string, topologyFile: string, o: { natsUrl: string; memDir: string; services: ServiceState[]; startedAtMs: number }): LabState {
  return {
    name, topologyFile, controllerPid: process.pid, operatorAddr: '', operatorToken: newOperatorToken(),
    natsUrl: o.natsUrl, memDir: o.memDir, phase: 'starting', startedAt: new Date(o.startedAtMs).toISOString(), services: o.services,
  };
}

export function isAlive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
