// tshark (Debian's package) reading a pcap the CLI wrote: one row per frame, the named fields
// in order (a field present in several layers, such as ip.src under VXLAN, comma-separated).
import { execFile } from 'node:child_process';

export function tshark(file: string, fields: string[]): Promise<string[][]> {
  return new Promise((res, rej) => {
    execFile('tshark', ['-r', file, '-T', 'fields', '-E', 'separator=|', ...fields.flatMap((f) => ['-e', f])], { maxBuffer: 8 << 20 }, (err, stdout, stderr) => {
      if (err) rej(new Error(`tshark failed: ${stderr || err.message}`));
      else res(stdout.trim().split('\n').filter(Boolean).map((l) => l.split('|')));
    });
  });
}
