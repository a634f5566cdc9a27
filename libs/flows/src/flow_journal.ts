// A component's flow counts kept in a file as they happen, so that they outlive its process: a
// driver domain killed and started again reads back what its earlier runs counted (as pstore
// keeps a crashed kernel's records), and the lab's conservation rule still adds up — what the
// killed process held in its queues is then what stays "in flight", and nothing else.
import { closeSync, existsSync, openSync, readFileSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { FlowCounters, type FlowCount, type FlowOp } from './flow_counters.js';

export class FlowJournal {
  /** What earlier runs counted (empty unless resumed). */
  readonly previous: FlowCount[];
  /** Lines of the file that could not be read back (the last one may be cut by a kill). */
  readonly unreadable: number = 0;
  private fd: number;

  /** `resume`: read back the earlier runs' counts; otherwise the file starts empty. */
  constructor(readonly path: string, opts: { resume: boolean }) {
    const before = new FlowCounters();
    let unreadable = 0;
    if (opts.resume && existsSync(path)) {
      for (const line of readFileSync(path, 'utf8').split('\n')) {
        if (!line) continue;
        try {
          before.apply(JSON.parse(line) as FlowOp);
        } catch {
          unreadable++;
        }
      }
    }
    this.unreadable = unreadable;
    this.previous = before.snapshot();
    // compacted to the totals so far, written aside and renamed, so a kill now loses nothing
    writeFileSync(`${path}.tmp`, this.previous.map((f) => JSON.stringify(['=', f]) + '\n').join(''), { mode: 0o600 });
    renameSync(`${path}.tmp`, path);
    this.fd = openSync(path, 'a');
  }

  /** Appends one count (a FlowCounters sink). Synchronous: once it returns, a kill keeps it. */
  readonly record = (op: FlowOp): void => {
    writeSync(this.fd, JSON.stringify(op) + '\n');
  };

  close(): void {
    closeSync(this.fd);
  }
}
