// Bad input gets a clear error and loses nothing: a malformed topology file, malformed or
// hostile messages on every subject, a malformed hypercall. Services count, log, go on.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { eth, hypercall, netif, pcie } from '@vnetlab/proto';
import { DOMAIN_TOKEN_HEADER, grpcClient } from '@vnetlab/runtime';
import { Metadata } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { example, metricValue, natsCredentials, startLab, vnetlab, vnetlabJson, type LabInfo } from '../src/lab_kit.js';

const tmp = mkdtempSync(join(tmpdir(), 'vnetlab-topo-'));
function topoFile(name: string, text: string): string {
  const f = join(tmp, name);
  writeFileSync(f, text);
  return f;
}
const good = readFileSync(example('two-hosts.yaml'), 'utf8');

describe('a malformed topology file', () => {
  it('names the field and its line, and exits non-zero', async () => {
    const f = topoFile('bad-type.yaml', good.replace('hz: 2.8e9', 'hz: fast'));
    const r = await vnetlab(['validate', f]);
    expect(r.code).toBe(2);
    const line = good.split('\n').findIndex((l) => l.includes('hz: 2.8e9')) + 1;
    expect(r.stderr).toContain(`${f}:${line}:`);
    expect(r.stderr).toContain('hosts[0].cpus.hz');
  });

  it('a link to a NIC that does not exist is refused by up before anything starts', async () => {
    const f = topoFile('dangling.yaml', good.replace('b: host-b/eth0', 'b: host-b/eth9'));
    const labDir = mkdtempSync(join(tmpdir(), 'vnetlab-lab-'));
    const r = await vnetlab(['up', f], { labDir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/links\[0\]\.b/);
    const st = await vnetlab(['status'], { labDir });
    expect(st.stderr).toMatch(/no lab is running/);
  });

  it('YAML that does not parse is reported with its position', async () => {
    const f = topoFile('syntax.yaml', 'name: x\nhosts: [\n');
    const r = await vnetlab(['validate', f]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/syntax\.yaml:\d+:\d+/);
  });
});

describe('malformed and hostile messages to a running lab', () => {
  let lab: LabInfo;
  let dir: string;
  let down: () => Promise<{ code: number }>;
  let nc: NatsConnection;
  const svc = (name: string) => lab.services.find((s) => s.name === name)!;
  const bad = async (name: string) => metricValue(await (await fetch(svc(name).metricsUrl)).text(), 'vnetlab_bad_messages_total') || 0;

  beforeAll(async () => {
    ({ lab, dir, down } = await startLab(example('two-hosts.yaml')));
    nc = await connect({ servers: lab.natsUrl, ...natsCredentials(dir) });
  });

  afterAll(async () => {
    await nc?.close();
    await down();
  });

  const garbage = new Uint8Array([0xff, 0xff, 0xff, 0x0f, 0x99, 0x01]);
  const cases: Array<[string, string, () => Uint8Array]> = [
    ['host-a/dom0', 'evtchn.host-a.0', () => garbage],
    ['host-a/dom0', 'evtchn.host-a.0', () => netif.EventBatch.encode({ events: [{ domid: 0, port: 4000, tNs: 1 }] }).finish()],
    ['host-a/dom0', 'evtchn.host-a.0', () => netif.EventBatch.encode({ events: [{ domid: 0, port: 1, tNs: Number.NaN }] }).finish()],
    ['vm-a1', 'evtchn.host-a.1', () => garbage],
    ['host-a/hypervisor', 'pirq.host-a', () => garbage],
    ['host-a/hypervisor', 'pirq.host-a', () => pcie.Interrupt.encode({ nic: 'eth7', vector: 7, bitVector: 1, tNs: 1 }).finish()],
    ['host-a/eth0', 'nic.host-a.eth0.doorbell', () => garbage],
    ['host-a/eth0', 'nic.host-a.eth0.doorbell', () => pcie.Doorbell.encode({ nic: 'eth0', queueSet: 0, ring: pcie.Ring.RING_TX, tail: 99999, tNs: 1 }).finish()],
    ['host-a/eth0', 'nic.host-a.eth0.doorbell', () => pcie.Doorbell.encode({ nic: 'eth0', queueSet: 9, ring: pcie.Ring.RING_RX, tail: 1, tNs: 1 }).finish()],
    ['host-a/eth0', 'nic.host-a.eth0.rx', () => garbage],
    ['fabric', 'fabric.host-a.eth0.tx', () => garbage],
    ['fabric', 'fabric.host-z.eth0.tx', () => eth.FrameBurst.encode({ link: '', from: 'x', frames: [{ data: Buffer.alloc(60), tNs: 1 }] }).finish()],
  ];

  for (const [name, subject, payload] of cases) {
    it(`${name} counts a bad message on ${subject} and keeps serving`, async () => {
      const before = await bad(name);
      nc.publish(subject, payload());
      await nc.flush();
      let after = before;
      for (let i = 0; i < 50 && after === before; i++) {
        await new Promise((r) => setTimeout(r, 20));
        after = await bad(name);
      }
      expect(after).toBe(before + 1);
    });
  }

  it('a runt frame from the wire is dropped by the NIC with a reason, not a crash', async () => {
    const url = svc('host-a/eth0').metricsUrl;
    const before = metricValue(await (await fetch(url)).text(), 'vnetlab_nic_drops_total', { reason: 'malformed' }) || 0;
    nc.publish('nic.host-a.eth0.rx', eth.FrameBurst.encode({ link: 'x', from: 'x', frames: [{ data: Buffer.alloc(8), tNs: 1 }] }).finish());
    await nc.flush();
    await new Promise((r) => setTimeout(r, 200));
    expect(metricValue(await (await fetch(url)).text(), 'vnetlab_nic_drops_total', { reason: 'malformed' })).toBe(before + 1);
  });

  it('a malformed hypercall is answered with an error and the hypervisor keeps serving', async () => {
    const client = grpcClient(hypercall.HypervisorClient, svc('host-a/hypervisor').grpcAddr);
    const stream = client.hypercalls();
    const answers: hypercall.HypercallResponse[] = [];
    stream.on('data', (r: hypercall.HypercallResponse) => answers.push(r));
    stream.write({ seq: 1, caller: 77, tNs: 0, pcpu: 'cpu0', op: { $case: 'evtchnSend', value: { port: 1 } } });
    stream.write({ seq: 2, caller: 1, tNs: 0, pcpu: 'cpu0', op: { $case: 'grantCopy', value: { ops: [] } } });
    stream.write({ seq: 3, caller: 1, tNs: 0, pcpu: 'cpu0', op: undefined });
    for (let i = 0; i < 100 && answers.length < 3; i++) await new Promise((r) => setTimeout(r, 20));
    stream.end();
    client.close();
    expect(answers.map((a) => a.seq).sort()).toEqual([1, 2, 3]);
    expect(answers.every((a) => a.status < 0 && a.error.length > 0)).toBe(true);
  });

  it('a guest\'s hypercall stream is bound to its own domain: claiming to be dom0 is refused and counted', async () => {
    const creds = JSON.parse(readFileSync(join(dir, 'credentials-host-a.json'), 'utf8')) as Record<string, string>;
    const metrics = async () => metricValue(await (await fetch(svc('host-a/hypervisor').metricsUrl)).text(), 'vnetlab_protection_violations_total', { kind: 'forged_caller' }) || 0;
    const before = await metrics();
    const client = grpcClient(hypercall.HypervisorClient, svc('host-a/hypervisor').grpcAddr);
    const md = new Metadata();
    md.set(DOMAIN_TOKEN_HEADER, creds['vm-a1']!);
    const stream = client.hypercalls(md);
    const answers: hypercall.HypercallResponse[] = [];
    stream.on('data', (r: hypercall.HypercallResponse) => answers.push(r));
    stream.write({ seq: 1, caller: 0, tNs: 0, pcpu: 'cpu1', op: { $case: 'evtchnAllocUnbound', value: { remoteDomid: 1 } } });
    stream.write({ seq: 2, caller: 1, tNs: 0, pcpu: 'cpu1', op: { $case: 'evtchnAllocUnbound', value: { remoteDomid: 0 } } });
    for (let i = 0; i < 100 && answers.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    stream.end();
    client.close();
    const forged = answers.find((a) => a.seq === 1)!;
    const own = answers.find((a) => a.seq === 2)!;
    expect(forged.status).toBeLessThan(0);
    expect(forged.error).toMatch(/belongs to domain 1/);
    expect(own.status).toBeGreaterThanOrEqual(0);
    expect(await metrics()).toBe(before + 1);
  });

  it('a guest\'s NATS user may not publish another domain\'s signals, nor listen to them', async () => {
    const guest = await connect({ servers: lab.natsUrl, ...natsCredentials(dir, 'vm-a1') });
    const errors: string[] = [];
    void (async () => {
      for await (const st of guest.status()) if (st.type === 'error') errors.push(String(st.error));
    })();
    const heard: string[] = [];
    nc.subscribe('evtchn.host-a.2', { callback: (_e, m) => void heard.push(m.subject) });
    nc.subscribe('pirq.host-a', { callback: (_e, m) => void heard.push(m.subject) });
    await nc.flush();
    guest.publish('evtchn.host-a.2', netif.EventBatch.encode({ events: [{ domid: 2, port: 1, tNs: 1 }] }).finish());
    guest.publish('pirq.host-a', pcie.Interrupt.encode({ nic: 'eth0', vector: 0, bitVector: 1, tNs: 1 }).finish());
    guest.subscribe('evtchn.host-a.2');
    await guest.flush().catch(() => undefined);
    await new Promise((r) => setTimeout(r, 300));
    await guest.close().catch(() => undefined);
    expect(heard).toEqual([]);
    expect(errors.join(' ')).toMatch(/[Pp]ermissions [Vv]iolation/);
  });

  it('after all of that the lab still pings across hosts', async () => {
    const r = await vnetlabJson<{ received: number }>(['ping', 'vm-a1', 'vm-b1', '--count', '2'], dir);
    expect(r.received).toBe(2);
  });
});
