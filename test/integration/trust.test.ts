// The gRPC trust boundary (docs/trust.md): a guest process holds its own control token and
// domain credential, nothing else. With them it cannot drive another guest (Guest.Ping),
// read its memory (GuestAttack.MemoryHash), read a service's Admin, manage domains on its
// hypervisor or reach the operator API: each call is refused UNAUTHENTICATED and counted by
// the service called, which goes on serving. The tokens of the lab file work, in process
// mode and in host mode.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { control, hypercall, protection } from '@vnetlab/proto';
import { CONTROL_TOKEN_HEADER, DOMAIN_TOKEN_HEADER, controlClientOptions, grpcClient, unary } from '@vnetlab/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { example, metricValue, startLab, vnetlabJson, type LabInfo } from '../src/lab_kit.js';

type Service = LabInfo['services'][number];

/** The status code of a call: 'OK' or the gRPC status name. */
const status = (p: Promise<unknown>) => p.then(() => 'OK', (e: grpc.ServiceError) => grpc.status[e.code] ?? String(e.code));
const md = (pairs: Record<string, string>) => {
  const m = new grpc.Metadata();
  for (const [k, v] of Object.entries(pairs)) m.set(k, v);
  return m;
};
const unauthenticated = async (s: Service) => metricValue(await (await fetch(s.metricsUrl)).text(), 'vnetlab_bad_messages_total', { reason: 'unauthenticated' }) || 0;

function trustBoundary(mode: string[]) {
  let dir: string;
  let lab: LabInfo;
  let down: () => Promise<{ code: number }>;
  const svc = (name: string) => lab.services.find((s) => s.name === name)!;
  /** What a hostile vm-a1 has: its own control token and its own domain credential. */
  let own: { control: string; domain: string };
  const clients: grpc.Client[] = [];
  const client = <C extends grpc.Client>(Ctor: new (a: string, c: grpc.ChannelCredentials, o?: Partial<grpc.ClientOptions>) => C, s: Service, token?: string): C => {
    const c = grpcClient(Ctor, s.grpcAddr, controlClientOptions(token));
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    ({ dir, lab, down } = await startLab(example('two-hosts.yaml'), mode));
    const domains = JSON.parse(readFileSync(join(dir, 'credentials-host-a.json'), 'utf8')) as Record<string, string>;
    own = { control: svc('vm-a1').controlToken!, domain: domains['vm-a1']! };
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await down?.();
  });

  it('every service has a control token of its own in the lab file', () => {
    const tokens = lab.services.map((s) => s.controlToken);
    expect(tokens.every((t) => typeof t === 'string' && t.length >= 32)).toBe(true);
    expect(new Set(tokens).size).toBe(tokens.length);
  });

  it("a guest's own token does not open another guest's Guest and GuestAttack APIs, nor a service's Admin", async () => {
    const victim = svc('vm-a2');
    const dd = svc('host-a/dom0');
    const vBefore = await unauthenticated(victim);
    const ddBefore = await unauthenticated(dd);
    const hashOf = (token: string) => unary<protection.MemoryHashResponse>((cb) => client(protection.GuestAttackClient, victim, token).memoryHash({}, cb));
    const before = await hashOf(victim.controlToken!);

    const ping = (token?: string) => unary<control.PingResponse>((cb) => client(control.GuestClient, victim, token).ping(control.GuestPingRequest.fromPartial({ dst: '10.0.0.1', count: 1, size: 56 }), new grpc.Metadata(), { deadline: Date.now() + 60_000 }, cb));
    expect(await status(ping(own.control))).toBe('UNAUTHENTICATED');
    expect(await status(ping())).toBe('UNAUTHENTICATED');
    expect(await status(hashOf(own.control))).toBe('UNAUTHENTICATED');
    expect(await status(unary((cb) => client(protection.GuestAttackClient, victim, own.control).attack(protection.AttackRequest.fromPartial({ kind: 'evtchn-storm', count: 1 }), cb)))).toBe('UNAUTHENTICATED');
    expect(await status(unary((cb) => client(control.AdminClient, victim, own.control).flows({}, cb)))).toBe('UNAUTHENTICATED');
    expect(await status(unary((cb) => client(control.AdminClient, dd, own.control).ledger({}, cb)))).toBe('UNAUTHENTICATED');
    // its own credential as a domain does not stand in for a control token either
    expect(await status(unary((cb) => client(control.AdminClient, victim).health({}, md({ [DOMAIN_TOKEN_HEADER]: own.domain }), cb)))).toBe('UNAUTHENTICATED');
    expect(await unauthenticated(victim)).toBe(vBefore + 6);
    expect(await unauthenticated(dd)).toBe(ddBefore + 1);

    // the victim goes on serving whoever holds its token: it pings, and its memory is as it was
    const r = await ping(victim.controlToken);
    expect(r.received).toBe(1);
    expect((await hashOf(victim.controlToken!)).pages).toBe(before.pages);
    expect(await status(unary((cb) => client(control.AdminClient, dd, dd.controlToken).ledger({}, cb)))).toBe('OK');
  });

  it("a guest may ask its hypervisor about itself only, and may not create domains", async () => {
    const hv = svc('host-a/hypervisor');
    const before = await unauthenticated(hv);
    const asGuest = (token: string) => md({ [DOMAIN_TOKEN_HEADER]: token });
    const c = client(hypercall.HypervisorClient, hv);
    const get = (name: string, meta: grpc.Metadata) => unary<hypercall.DomainInfo>((cb) => c.getDomain({ domid: 0, name }, meta, cb));
    expect((await get('vm-a1', asGuest(own.domain))).name).toBe('vm-a1');
    expect(await status(get('vm-a2', asGuest(own.domain)))).toBe('UNAUTHENTICATED');
    expect(await status(unary((cb) => c.listDomains({}, asGuest(own.domain), cb)))).toBe('UNAUTHENTICATED');
    expect(await status(unary((cb) => c.createDomain({ name: 'intruder', pages: 4 }, md({ [CONTROL_TOKEN_HEADER]: own.control }), cb)))).toBe('UNAUTHENTICATED');
    expect(await unauthenticated(hv)).toBe(before + 3);
    // the toolstack's token sees every domain, and no intruder among them
    const all = await unary<hypercall.ListDomainsResponse>((cb) => c.listDomains({}, md({ [CONTROL_TOKEN_HEADER]: hv.controlToken! }), cb));
    expect(all.domains.map((d) => d.name).sort()).toEqual(['dom0', 'vm-a1', 'vm-a2']);
  });

  it('a guest token does not open the operator API (its Admin included)', async () => {
    const op = { grpcAddr: (JSON.parse(readFileSync(join(dir, 'lab.json'), 'utf8')) as { operatorAddr: string }).operatorAddr } as Service;
    expect(await status(unary((cb) => client(control.OperatorClient, op, own.control).shutdown({}, cb)))).toBe('UNAUTHENTICATED');
    expect(await status(unary((cb) => client(control.AdminClient, op, own.control).health({}, cb)))).toBe('UNAUTHENTICATED');
    // the operator, with the lab file, still drives the lab through every service's token
    expect((await vnetlabJson<{ received: number }>(['ping', 'vm-a2', 'vm-b1', '--count', '2'], dir)).received).toBe(2);
    const st = await vnetlabJson<{ services: Array<{ name: string; healthy: boolean }> }>(['status'], dir);
    expect(st.services.filter((s) => !s.healthy)).toEqual([]);
  });
}

describe('trust boundary on the gRPC side (a process per service)', () => trustBoundary([]));
describe('trust boundary on the gRPC side (a process per host)', () => trustBoundary(['--mode', 'host']));
