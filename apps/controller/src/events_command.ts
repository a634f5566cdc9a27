// The CLI's timeline verb: vnetlab events [--follow] [--json] [--since …] prints what the
// controller heard on lab.events and migration.<host>, one line each, oldest first.
import { status, type ServiceError } from '@grpc/grpc-js';
import { control } from '@vnetlab/proto';
import { UsageError, type Command, type FlagSpec } from './args.js';
import { withOperatorClient } from './lab_client.js';
import { formatEntry, parseSince } from './event_log.js';

export function eventsCommands(out: (s: string) => void, err: (s: string) => void, json: FlagSpec): Record<string, Command> {
  return {
    events: {
      synopsis: 'vnetlab events [--follow] [--since 5m|DATE] [--json]',
      help: 'Prints the lab\'s timeline as the controller logged it (its last 2000 events): NIC fault phases (detected, held, redirected, restored), cables cut and mended, each live migration\'s phases (reserved, pre-copy round N, stop-and-copy, resumed, released, done), evacuations started and done, services restarted. One line each: wall time (UTC), modelled time, kind, what happened. --follow keeps printing new events until interrupted; --json prints one JSON object a line.',
      flags: [
        { name: 'follow', type: 'boolean', help: 'keep printing events as they happen' },
        { name: 'since', type: 'string', help: 'only events from then on: a duration ago (30s, 5m, 2h) or a date' },
        json,
      ],
      run: async (pos, f) => {
        if (pos.length) throw new UsageError('events takes no arguments');
        let sinceMs = 0;
        if (f.since !== undefined) {
          try {
            sinceMs = parseSince(String(f.since));
          } catch (e) {
            throw new UsageError((e as Error).message);
          }
        }
        // `vnetlab events | head`: a reader that has seen enough is no failure
        process.stdout.on('error', (e: NodeJS.ErrnoException) => {
          if (e.code === 'EPIPE') process.exit(0);
        });
        let n = 0;
        await withOperatorClient(f, control.OperatorClient, (c) => new Promise<void>((resolve, reject) => {
          const call = c.events({ follow: f.follow === true, sinceMs });
          call.on('data', (e: control.LabEventEntry) => {
            n++;
            if (f.json) {
              const { fieldsJson, hasTNs, tNs, ...rest } = e;
              out(JSON.stringify({ ...rest, ...(hasTNs ? { tNs } : {}), fields: fieldsJson ? JSON.parse(fieldsJson) : {} }));
            } else out(formatEntry(e));
          });
          // a follower's stream ends with the lab (vnetlab down stops the controller under it)
          call.on('error', (e: ServiceError) => {
            if (f.follow === true && e.code === status.UNAVAILABLE) {
              err('the lab stopped');
              resolve();
            } else reject(e);
          });
          call.on('end', () => resolve());
        }));
        if (n === 0 && !f.json) out('no events');
        return 0;
      },
    },
  };
}
