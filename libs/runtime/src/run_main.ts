// The top of every app's main: a bad flag ends the process with a one-line error (exit 2),
// anything else that escapes startup is logged as JSON and ends it with exit 1.
import { ConfigError } from './service_args.js';

export function runMain(main: () => Promise<unknown>): void {
  main().catch((e: unknown) => {
    if (e instanceof ConfigError) {
      process.stderr.write(`error: ${e.message}\n`);
      process.exit(2);
    }
    const err = e instanceof Error ? { name: e.name, message: e.message, stack: e.stack } : { message: String(e) };
    process.stderr.write(JSON.stringify({ level: 'error', msg: 'service failed', time: new Date().toISOString(), error: err }) + '\n');
    process.exit(1);
  });
}
