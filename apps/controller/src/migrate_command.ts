// The CLI's live-migration verb: vnetlab migrate GUEST --to HOST.
import { migration } from '@vnetlab/proto';
import { UsageError, type Command, type FlagSpec } from './args.js';
import { withOperatorClient } from './lab_client.js';
import { formatReport } from './migration_report.js';

export function migrateCommands(out: (s: string) => void, err: (s: string) => void, json: FlagSpec): Record<string, Command> {
  return {
    migrate: {
      synopsis: 'vnetlab migrate GUEST --to HOST [--bandwidth BPS] [--max-rounds N] [--json]',
      help: 'Live-migrates a pv guest to another host: reserves bandwidth on the link between the hosts (default half its rate), pre-copies its memory in rounds of the pages it dirtied while it keeps running, suspends it (its I/O queued), copies the rest, and resumes it on the target, where its netfront reconnects to that host\'s netback and a gratuitous ARP tells the network where it is. Prints the rounds with their pages, the modelled total time and downtime, the frames queued while suspended and the guest\'s traffic in each phase; progress goes to stderr while it runs.',
      flags: [
        { name: 'to', type: 'string', help: 'the host the guest goes to' },
        { name: 'bandwidth', type: 'number', help: 'bits per second reserved for the migration stream (default: half the link\'s rate)' },
        { name: 'max-rounds', type: 'number', help: 'pre-copy rounds at most before the stop-and-copy (default 29)' },
        json,
      ],
      async run(pos, f) {
        if (pos.length !== 1) throw new UsageError('migrate needs one GUEST');
        if (!f.to) throw new UsageError('migrate needs --to HOST');
        const bandwidth = f.bandwidth === undefined ? 0 : Number(f.bandwidth);
        if (!(bandwidth >= 0) || !Number.isFinite(bandwidth)) throw new UsageError(`--bandwidth must be a positive number of bits per second, got ${String(f.bandwidth)}`);
        const rounds = f['max-rounds'] === undefined ? 0 : Number(f['max-rounds']);
        if (!Number.isInteger(rounds) || rounds < 0 || rounds > 1000) throw new UsageError(`--max-rounds must be an integer in 1..1000, got ${String(f['max-rounds'])}`);
        const report = await withOperatorClient(f, migration.MigrationsClient, (c) => new Promise<migration.MigrationReport>((resolve, reject) => {
          let last: migration.MigrationReport | undefined;
          const call = c.migrate({ guest: pos[0]!, to: String(f.to), bandwidthBps: bandwidth, maxRounds: rounds });
          call.on('data', (u: migration.MigrateUpdate) => {
            if (u.progress) err(`  ${u.progress}`);
            if (u.report) last = u.report;
          });
          call.on('error', reject);
          call.on('end', () => (last ? resolve(last) : reject(new Error('the lab ended the migration without a report'))));
        }));
        if (f.json) out(JSON.stringify(report, null, 2));
        else for (const line of formatReport(report)) out(line);
        return report.sourceSha256 === report.targetSha256 ? 0 : 1;
      },
    },
  };
}
