import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadTopology } from '@vnetlab/topology';
import { renderCompose } from './compose.js';
import { renderKubernetes } from './kubernetes.js';
import { DEV_RENDER_SECRET, RenderSecretError, labCredentials } from './lab_credentials.js';

const file = fileURLToPath(new URL('../../../../examples/two-hosts.yaml', import.meta.url));
const topo = loadTopology(file);
const text = readFileSync(file, 'utf8');

interface ConfUser { user: string; password: string; publish: string[]; subscribe: string[] }

/** The users of a nats-server configuration as natsConfig writes them (one per line). */
function confUsers(conf: string): Map<string, ConfUser> {
  const re = /\{ user: ("[^"]*"), password: ("[^"]*"), permissions: \{ publish: \{ allow: (\[.*?\]) \}, subscribe: \{ allow: (\[.*?\]) \}/g;
  const users = new Map<string, ConfUser>();
  for (const m of conf.matchAll(re)) {
    const u: ConfUser = { user: JSON.parse(m[1]!), password: JSON.parse(m[2]!), publish: JSON.parse(m[3]!), subscribe: JSON.parse(m[4]!) };
    users.set(u.user, u);
  }
  return users;
}

/** NATS subject matching: `*` is one token, `>` the rest (at least one token). */
function matches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length || (p[i] !== '*' && p[i] !== s[i])) return false;
  }
  return p.length === s.length;
}
const allowed = (patterns: string[], subject: string) => patterns.some((p) => matches(p, subject));

describe('credentials of a rendered lab (examples/two-hosts.yaml)', () => {
  const compose = renderCompose(topo, text);
  const users = confUsers(compose['nats/nats.conf']);

  it('the compose NATS configuration has one user per service and the controller, as a local lab', () => {
    expect([...users.keys()].sort()).toEqual(
      ['fabric', 'host-a_dom0', 'host-a_eth0', 'host-a_hypervisor', 'host-b_dom0', 'host-b_eth0', 'host-b_hypervisor', 'vm-a1', 'vm-a2', 'vm-b1', 'vm-b2'].sort(),
    );
    expect(compose['nats/nats.conf']).toMatch(/\{ user: "controller", password: "[0-9a-f]{24}", permissions: \{ publish: ">", subscribe: ">" \} \}/);
  });

  it('guest vm-a1 may publish its ioreqs and write its own xenstore directory, and nothing of another domain', () => {
    const g = users.get('vm-a1')!;
    for (const s of ['ioreq.host-a.1', '$KV.xenstore.host-a.local.domain.1.device.vif.0.state', 'lab.events'])
      expect(allowed(g.publish, s), `publish ${s}`).toBe(true);
    for (const s of [
      'evtchn.host-a.2', 'evtchn.host-a.1', 'ioreq.host-a.2', 'ioreq.host-b.1', 'pirq.host-a', 'nic.host-a.eth0.doorbell',
      '$KV.xenstore.host-a.local.domain.2.device.vif.0.state', '$KV.xenstore.host-a.local.domain.0.backend.vif.1.0.state',
      '$JS.API.STREAM.CREATE.KV_xenstore', '$JS.API.STREAM.DELETE.KV_xenstore',
    ])
      expect(allowed(g.publish, s), `publish ${s}`).toBe(false);
  });

  it('guest vm-a1 may hear its own event channel and inbox only', () => {
    const g = users.get('vm-a1')!;
    for (const s of ['evtchn.host-a.1', '_INBOX_vm-a1.abc.1']) expect(allowed(g.subscribe, s), `subscribe ${s}`).toBe(true);
    for (const s of ['evtchn.host-a.2', 'evtchn.host-b.1', '_INBOX_vm-a2.abc.1', '_INBOX.abc', 'ioreq.host-a.1', 'pirq.host-a'])
      expect(allowed(g.subscribe, s), `subscribe ${s}`).toBe(false);
  });

  it('every container gets its own user and the password of the configuration, domains their hypercall credential', () => {
    const c = compose['docker-compose.yml'];
    for (const u of users.values()) {
      const m = new RegExp(`VNETLAB_NATS_USER: ${u.user}\\n\\s+VNETLAB_NATS_PASSWORD: "?([0-9a-f]+)"?`).exec(c);
      expect(m?.[1], u.user).toBe(u.password);
    }
    const tokensA = JSON.parse(compose['credentials/domain-tokens.host-a.json']!) as Record<string, string>;
    expect(Object.keys(tokensA).sort()).toEqual(['dom0', 'vm-a1', 'vm-a2']);
    expect(c).toMatch(new RegExp(`VNETLAB_NATS_USER: vm-a1\\n.*\\n\\s+VNETLAB_DOMAIN_TOKEN: "?${tokensA['vm-a1']}"?\\n`));
    expect(c).toMatch(new RegExp(`VNETLAB_NATS_USER: host-a_dom0\\n.*\\n\\s+VNETLAB_DOMAIN_TOKEN: "?${tokensA.dom0}"?\\n`));
    expect(c).toContain('./credentials/domain-tokens.host-a.json:/etc/vnetlab-credentials/domain-tokens.json:ro');
  });

  it('Kubernetes gets the same NATS configuration, and the Secret literals hold the same passwords', () => {
    const k = renderKubernetes(topo, text);
    expect(k['overlays/two-hosts/nats.conf']).toBe(compose['nats/nats.conf']);
    const kust = k['overlays/two-hosts/kustomization.yaml']!;
    expect(kust).toContain(`nats-password.vm-a1=${users.get('vm-a1')!.password}`);
    expect(k['overlays/two-hosts/credentials/domain-tokens.host-b.json']).toBe(compose['credentials/domain-tokens.host-b.json']);
    // the manifests refer to the Secret, they never hold a password
    expect(k['overlays/two-hosts/host-a.yaml']).not.toContain(users.get('vm-a1')!.password);
  });

  it('every service gets a control token of its own, in its environment (compose) or from the Secret (Kubernetes)', () => {
    const tokens = JSON.parse(compose['credentials/control-tokens.json']!) as Record<string, string>;
    expect(Object.keys(tokens).sort()).toEqual(['fabric', 'host-a/dom0', 'host-a/eth0', 'host-a/hypervisor', 'host-b/dom0', 'host-b/eth0', 'host-b/hypervisor', 'vm-a1', 'vm-a2', 'vm-b1', 'vm-b2']);
    expect(new Set(Object.values(tokens)).size).toBe(11);
    const c = compose['docker-compose.yml'];
    expect(c.split('VNETLAB_CONTROL_TOKEN: ').length - 1).toBe(11);
    for (const [name, token] of Object.entries(tokens)) {
      expect(c, name).toMatch(new RegExp(`VNETLAB_NAME: "?${name}"?\\n(?:\\s+VNETLAB_\\w+: .*\\n)*?\\s+VNETLAB_CONTROL_TOKEN: "?${token}"?\\n`));
    }
    const k = renderKubernetes(topo, text);
    expect(k['overlays/two-hosts/kustomization.yaml']).toContain(`control-token.vm-a1=${tokens['vm-a1']}`);
    expect(k['overlays/two-hosts/host-a.yaml']).toMatch(/name: VNETLAB_CONTROL_TOKEN\n\s+valueFrom:\n\s+secretKeyRef:\n\s+name: vnetlab-credentials\n\s+key: control-token.vm-a1\n/);
    expect(k['overlays/two-hosts/host-a.yaml']).not.toContain(tokens['vm-a1']);
    expect(labCredentials(topo, 's2').controlTokens.get('vm-a1')).not.toBe(tokens['vm-a1']);
  });

  it('credentials are a function of the secret: the same secret renders the same, another one other passwords and tokens', () => {
    expect(renderCompose(topo, text, { secret: 's1' })).toEqual(renderCompose(topo, text, { secret: 's1' }));
    const a = labCredentials(topo, 's1');
    const b = labCredentials(topo, 's2');
    const passwords = a.users.map((u) => u.password);
    expect(new Set(passwords).size).toBe(passwords.length);
    for (const [i, u] of a.users.entries()) expect(b.users[i]!.password, u.user).not.toBe(u.password);
    expect(b.domainTokens.get('host-a')!['vm-a1']).not.toBe(a.domainTokens.get('host-a')!['vm-a1']);
    expect(labCredentials(topo, undefined).users[0]!.password).toBe(labCredentials(topo, DEV_RENDER_SECRET).users[0]!.password);
  });

  it('files rendered with the development secret say so; with a given secret they do not', () => {
    expect(compose['docker-compose.yml']).toMatch(/^# WARNING: .*development/m);
    expect(compose['nats/nats.conf']).toMatch(/^# WARNING: .*development/m);
    expect(renderKubernetes(topo, text)['overlays/two-hosts/kustomization.yaml']).toMatch(/^# WARNING: .*development/m);
    expect(renderCompose(topo, text, { secret: 'x' })['docker-compose.yml']).not.toMatch(/WARNING/);
  });

  it('an empty secret is refused', () => {
    expect(() => labCredentials(topo, '')).toThrow(RenderSecretError);
  });
});
