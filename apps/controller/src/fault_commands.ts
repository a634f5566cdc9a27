// The CLI's fault-injection verbs: fail and repair a NIC, cut and mend a fabric link.
import { fault } from '@vnetlab/proto';
import { unary } from '@vnetlab/runtime';
import { UsageError, type Command, type FlagSpec } from './args.js';
import { withOperatorClient } from './lab_client.js';
import { formatReport } from './migration_report.js';

function setLink(cut: boolean, out: (s: string) => void): Command['run'] {
  return async (pos, f) => {
    if (pos.length !== 2) throw new UsageError(`${cut ? 'fail' : 'repair'} link needs: link LINK (a link's name, or one of its ends as HOST/NIC)`);
    const r = await withOperatorClient(f, fault.FaultsClient, (c) => unary<fault.SetLinkResponse>((cb) => c.setLink({ link: pos[1]!, cut }, cb)));
    if (f.json) out(JSON.stringify({ link: r.link, cut, ends: r.ends.map((e, i) => ({ nic: e, up: r.endsUp[i] })) }));
    else out(`${r.link} ${cut ? 'cut' : 'mended'}: ${r.ends.map((e, i) => `${e} link ${r.endsUp[i] ? 'up' : 'DOWN'}`).join(', ')}`);
    return 0;
  };
}

function setNic(fail: boolean, out: (s: string) => void): Command['run'] {
  return async (pos, f) => {
    if (pos[0] === 'link') return setLink(fail, out)(pos, f);
    if (pos.length !== 2 || pos[0] !== 'nic' || !/^[^/]+\/[^/]+$/.test(pos[1]!)) throw new UsageError(`${fail ? 'fail' : 'repair'} needs: nic HOST/NIC, or link LINK`);
    const [host, nic] = pos[1]!.split('/') as [string, string];
    const r = await withOperatorClient(f, fault.FaultsClient, (c) => unary<fault.SetNicResponse>((cb) => c.setNic({ host, nic, fail }, cb)));
    out(f.json ? JSON.stringify({ host, nic, up: r.up }) : `${host}/${nic}: link ${r.up ? 'up' : 'DOWN'}`);
    return 0;
  };
}

export function faultCommands(out: (s: string) => void, json: FlagSpec): Record<string, Command> {
  return {
    evacuations: {
      synopsis: 'vnetlab evacuations [--json]',
      help: 'The guests the toolstack moved off hosts whose NIC failed: once the fault agent has redirected a NIC\'s traffic through another host, each pv guest on it is live-migrated there, one after the other (vnetlab up --no-auto-migrate turns this off). Prints each with its migration report: pre-copy rounds and their pages, modelled total time and downtime, frames queued.',
      flags: [json],
      run: async (pos, f) => {
        if (pos.length) throw new UsageError('evacuations takes no arguments');
        const r = await withOperatorClient(f, fault.FaultsClient, (c) => unary<fault.EvacuationsResponse>((cb) => c.evacuations({}, cb)));
        if (f.json) {
          out(JSON.stringify(r, null, 2));
          return 0;
        }
        if (r.evacuations.length === 0) out(`no evacuation${r.autoMigrate ? '' : ' (automatic migration is off: vnetlab up --no-auto-migrate)'}`);
        for (const e of r.evacuations) {
          out(`${e.guest}: ${e.fromHost} → ${e.toHost} (${e.fromHost}/${e.nic} failed): ${e.error ? `not moved: ${e.error}` : e.done ? 'moved' : 'moving…'}`);
          if (e.report) for (const line of formatReport(e.report)) out(`  ${line}`);
        }
        return 0;
      },
    },
    restart: {
      synopsis: 'vnetlab restart SERVICE [--json]',
      help: 'Starts a service\'s process again with its arguments and ports, as a supervisor would (killing it first if it still runs); the lab must be in process mode. Chaos tests kill services with kill -9 and bring them back with this. A restarted NIC is a new device: the driver domain\'s fault agent, seeing its heartbeat again, reloads the driver (rings told again, buffers reposted) and sends the held or redirected I/O through it.',
      flags: [json],
      run: async (pos, f) => {
        if (pos.length !== 1) throw new UsageError('restart needs: SERVICE (a name from vnetlab status)');
        const r = await withOperatorClient(f, fault.FaultsClient, (c) => unary<fault.RestartResponse>((cb) => c.restart({ service: pos[0]! }, cb)));
        out(f.json ? JSON.stringify(r) : `${r.service}: ${r.wasRunning ? 'killed and ' : ''}started again (pid ${r.pid})`);
        return 0;
      },
    },
    fail: {
      synopsis: 'vnetlab fail nic HOST/NIC | fail link LINK [--json]',
      help: 'Fails a NIC (its link goes down; frames it would send or receive are dropped with reason link_down, counted per flow; it announces the change on its link subject, where the driver domain\'s fault agent holds the I/O and redirects it through another host), or cuts a fabric link (named, or by one of its ends HOST/NIC): nothing crosses it (link_cut) and the NICs at its ends lose carrier.',
      flags: [json],
      run: setNic(true, out),
    },
    repair: {
      synopsis: 'vnetlab repair nic HOST/NIC | repair link LINK [--json]',
      help: 'Repairs a failed NIC, or mends a cut link: the link comes back up, and the fault agent sends the held or redirected I/O through the NIC again.',
      flags: [json],
      run: setNic(false, out),
    },
  };
}
