// Renders docs/subjects.md from the subject catalogue and the xenstore key list, so that
// the page cannot drift from the code (a test compares the two).
import { SUBJECT_CATALOGUE } from './subjects.js';
import { XENSTORE_BUCKET, XENSTORE_KEYS, XenbusState } from './xenstore.js';

// A pipe inside a table cell would end the cell.
function cell(s: string): string {
  return s.replace(/\|/g, '\\|');
}

export function renderSubjectsMarkdown(): string {
  const lines: string[] = [
    '# NATS subjects',
    '',
    '<!-- Generated from libs/proto/src/subjects.ts and xenstore.ts by',
    '     `npm run docs -w @vnetlab/proto`. Do not edit by hand. -->',
    '',
    'Asynchronous signals travel on NATS. Each subject stands for one modelled hardware or',
    'software signal; payloads are protobuf messages from `proto/` (the `t_ns` fields carry',
    'modelled nanoseconds). Build subjects with `subjects.*` from `@vnetlab/proto`; a name',
    "holding '.', '*', '>' or whitespace is refused with a `SubjectError`.",
    '',
    '| subject | payload | modelled signal | publisher | subscriber |',
    '|---|---|---|---|---|',
  ];
  for (const e of SUBJECT_CATALOGUE) {
    const payload = e.encoding === 'json' ? `${e.payload} (JSON)` : `\`${e.payload}\``;
    lines.push(`| \`${e.pattern}\` | ${payload} | ${cell(e.signal)} | ${cell(e.publisher)} | ${cell(e.subscriber)} |`);
  }
  lines.push(
    '',
    '## xenstore',
    '',
    `xenstore is the NATS KV bucket \`${XENSTORE_BUCKET}\`, watched as xenstore watches are. A`,
    'path `/local/domain/1/device/vif/0/state` on host `h1` is the key',
    '`h1.local.domain.1.device.vif.0.state` (`xenstoreKey(host, path)`); a watch on',
    '`h1.local.domain.1.device.vif.0.>` sees the whole device. Values are UTF-8 strings.',
    '',
    'Frontend directory: `/local/domain/<domid>/device/vif/<devid>`.',
    'Backend directory: `/local/domain/<backend-domid>/backend/vif/<domid>/<devid>`.',
    '',
    '| directory | key | written by | meaning |',
    '|---|---|---|---|',
  );
  for (const k of XENSTORE_KEYS) {
    lines.push(`| ${k.dir} | \`${k.key}\` | ${k.writer} | ${cell(k.meaning)} |`);
  }
  lines.push(
    '',
    '`state` holds a decimal XenbusState: ' +
      Object.entries(XenbusState)
        .map(([name, v]) => `${v} ${name}`)
        .join(', ') +
      '.',
    '',
  );
  return lines.join('\n');
}
