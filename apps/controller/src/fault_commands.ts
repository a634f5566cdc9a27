// The CLI's fault-injection verbs: fail and repair a NIC.
import { fault } from '@vnetlab/proto';
import { unary } from '@vnetlab/runtime';
import { UsageError, type FlagSpec } from './args.js';
import { withOperatorClient } from './lab_client.js';

interface Command {
  synopsis: string;
  help: string;
  flags: FlagSpec[];
  run(pos: string[], f: Record<string, unknown>): Promise<number>;
}

function setNic(fail: boolean, out: (s: string) => void): Command['run'] {
  return async (pos, f) => {
    if (pos.length !== 2 || pos[0] !== 'nic' || !/^[^/]+\/[^/]+$/.test(pos[1]!)) throw new UsageError(`${fail ? 'fail' : 'repair'} needs: nic HOST/NIC`);
    const [host, nic] = pos[1]!.split('/') as [string, string];
    const r = await withOperatorClient(f, fault.FaultsClient, (c) => unary<fault.SetNicResponse>((cb) => c.setNic({ host, nic, fail }, cb)));
    out(f.json ? JSON.stringify({ host, nic, up: r.up }) : `${host}/${nic}: link ${r.up ? 'up' : 'DOWN'}`);
    return 0;
  };
}

export function faultCommands(out: (s: string) => void, json: FlagSpec): Record<string, Command> {
  return {
    fail: {
      synopsis: 'vnetlab fail nic HOST/NIC [--json]',
      help: 'Fails a NIC: its link goes down, frames it would send or receive are dropped with reason link_down (counted per flow), and it announces the change on its link subject.',
      flags: [json],
      run: setNic(true, out),
    },
    repair: {
      synopsis: 'vnetlab repair nic HOST/NIC [--json]',
      help: 'Repairs a failed NIC: its link comes back up.',
      flags: [json],
      run: setNic(false, out),
    },
  };
}
