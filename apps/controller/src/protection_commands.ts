// The CLI's protection verbs: attack (a hostile guest on demand) and protection (a host's
// checks on or off, to show what they prevent).
import { Metadata } from '@grpc/grpc-js';
import { protection } from '@vnetlab/proto';
import { unary } from '@vnetlab/runtime';
import { UsageError, type Command, type FlagSpec } from './args.js';
import { withOperatorClient } from './lab_client.js';
import { ATTACKS } from './protection.js';

function withProtection<T>(f: Record<string, unknown>, fn: (c: protection.ProtectionClient) => Promise<T>): Promise<T> {
  return withOperatorClient(f, protection.ProtectionClient, fn);
}

export function protectionCommands(out: (s: string) => void, json: FlagSpec): Record<string, Command> {
  return {
    attack: {
      synopsis: 'vnetlab attack KIND --attacker GUEST --victim GUEST [--json]',
      help: `Makes GUEST attack another through its real interfaces, then reports what happened to the victim: its memory hash before and after, whether a third guest still reaches it, the protection violations counted on the attacker's host, and figures of its own (evtchn-storm: the victim's round trip and dom0's upcalls before and during; give-away-dma: whether the NIC wrote into the victim's page). Kinds: ${Object.entries(ATTACKS).map(([k, a]) => `${k} (${a.help})`).join('; ')}.`,
      flags: [{ name: 'attacker', type: 'string', help: 'the hostile guest' }, { name: 'victim', type: 'string', help: 'the guest attacked' }, json],
      async run(pos, f) {
        if (pos.length !== 1) throw new UsageError('attack needs one KIND');
        if (!f.attacker || !f.victim) throw new UsageError('attack needs --attacker and --victim');
        const r = await withProtection(f, (c) =>
          unary<protection.AttackReport>((cb) => c.attack({ kind: pos[0]!, attacker: String(f.attacker), victim: String(f.victim) }, new Metadata(), { deadline: Date.now() + 5 * 60_000 }, cb)),
        );
        if (f.json) out(JSON.stringify({ ...r, outcome: r.outcome ? { ...r.outcome, leaked: r.outcome.leaked.length } : undefined }, null, 2));
        else {
          out(`attack ${r.kind}: ${r.attacker} → ${r.victim} (protection ${r.protection ? 'on' : 'OFF'})`);
          out(`  attacker: ${r.outcome?.detail ?? ''}`);
          out(`  victim memory: ${r.victimMemoryChanged ? 'CHANGED' : 'unchanged'} (sha256 ${r.victimHashBefore.slice(0, 16)}… → ${r.victimHashAfter.slice(0, 16)}…)`);
          out(`  violations counted: ${r.violations}`);
          for (const m of r.measures) out(`  ${m.name}: ${Number.isInteger(m.value) ? m.value : m.value.toFixed(1)} ${m.unit} — ${m.help}`);
          out(`  verdict: ${r.verdict}`);
        }
        return 0;
      },
    },
    protection: {
      synopsis: 'vnetlab protection HOST on|off',
      help: 'Turns the protection checks of one host (grant and ownership checks, CDNA validation, the driver domain\'s anti-spoofing filter) on or off. Off exists only to show, with vnetlab attack, why they exist.',
      flags: [json],
      async run(pos, f) {
        if (pos.length !== 2 || (pos[1] !== 'on' && pos[1] !== 'off')) throw new UsageError('protection needs HOST and on|off');
        const r = await withProtection(f, (c) => unary<protection.SetProtectionResponse>((cb) => c.setProtection({ host: pos[0]!, on: pos[1] === 'on' }, cb)));
        out(f.json ? JSON.stringify(r) : `${pos[0]}: protection ${r.on ? 'on' : 'OFF'}`);
        return 0;
      },
    },
  };
}
