import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import * as wire from './index.js';
import { SUBJECT_CATALOGUE, subjects, wildcard, SubjectError, ANY } from './subjects.js';
import { xenstoreKey, xenstorePath, vifFrontendPath, XenstoreKeyError } from './xenstore.js';
import { renderSubjectsMarkdown } from './subjects_doc.js';
import { SUBJECTS_DOC_PATH } from './write_subjects_doc.js';

// Resolves 'vnetlab.<area>.v1.<Message>' against the generated namespaces.
function generatedMessage(name: string): { decode?: unknown; encode?: unknown } | undefined {
  const m = /^vnetlab\.([a-z]+)\.v1\.([A-Za-z0-9]+)$/.exec(name);
  if (!m) return undefined;
  const ns = (wire as unknown as Record<string, Record<string, unknown>>)[m[1]!];
  if (!ns || ns['protobufPackage'] !== `vnetlab.${m[1]}.v1`) return undefined;
  return ns[m[2]!] as { decode?: unknown; encode?: unknown } | undefined;
}

function matchesCatalogue(subject: string): boolean {
  return SUBJECT_CATALOGUE.some((e) => {
    const re = new RegExp('^' + e.pattern.replace(/\./g, '\\.').replace(/<[^>]+>/g, '[^.]+') + '$');
    return re.test(subject);
  });
}

describe('subject catalogue', () => {
  it('has no duplicate patterns', () => {
    const patterns = SUBJECT_CATALOGUE.map((e) => e.pattern);
    expect(new Set(patterns).size).toBe(patterns.length);
  });

  it('names a generated protobuf message for every protobuf payload', () => {
    for (const e of SUBJECT_CATALOGUE.filter((x) => x.encoding === 'protobuf')) {
      const msg = generatedMessage(e.payload);
      expect(msg, `${e.pattern} → ${e.payload}`).toBeDefined();
      expect(typeof msg!.decode).toBe('function');
      expect(typeof msg!.encode).toBe('function');
    }
  });

  it('gives every entry a signal, a publisher and a subscriber', () => {
    for (const e of SUBJECT_CATALOGUE) {
      expect(e.signal.length, e.pattern).toBeGreaterThan(0);
      expect(e.publisher.length, e.pattern).toBeGreaterThan(0);
      expect(e.subscriber.length, e.pattern).toBeGreaterThan(0);
    }
  });

  it('every subject builder produces a subject of a catalogued pattern', () => {
    const built = [
      subjects.evtchn('h1', 3),
      subjects.pirq('h1'),
      subjects.nicDoorbell('h1', 'eth0'),
      subjects.nicConfig('h1', 'eth0'),
      subjects.nicRx('h1', 'eth0'),
      subjects.nicLink('h1', 'eth0'),
      subjects.nicDma('h1', 'eth0'),
      subjects.nicIommu('h1', 'eth0'),
      subjects.ioreq('h1', 2),
      subjects.protection('h1'),
      subjects.nicFault('h1', 'eth0'),
      subjects.linkFault(),
      subjects.fabricTx('h1', 'eth0'),
      subjects.labEvents(),
      subjects.capture('c1'),
      subjects.trace('t1'),
      subjects.migration('h1'),
      subjects.redirect('h1'),
      subjects.redirectFrames('h1', 'h2'),
      subjects.fault('h1'),
    ];
    expect(built.length).toBe(Object.keys(subjects).length);
    for (const s of built) expect(matchesCatalogue(s), s).toBe(true);
    expect(subjects.evtchn('h1', 3)).toBe('evtchn.h1.3');
    expect(subjects.fabricTx('h2', 'nic1')).toBe('fabric.h2.nic1.tx');
  });

  it('refuses names that would add a level or act as a wildcard', () => {
    expect(() => subjects.pirq('a.b')).toThrow(SubjectError);
    expect(() => subjects.nicRx('h1', '>')).toThrow(SubjectError);
    expect(() => subjects.nicRx('h1', 'eth 0')).toThrow(SubjectError);
    expect(() => subjects.pirq('')).toThrow(expect.objectContaining({ reason: 'empty' }));
  });

  it('builds subscription patterns with ANY and from catalogue patterns', () => {
    expect(subjects.fabricTx(ANY, ANY)).toBe('fabric.*.*.tx');
    expect(subjects.evtchn('h1', ANY)).toBe('evtchn.h1.*');
    expect(wildcard('nic.<host>.<nic>.doorbell')).toBe('nic.*.*.doorbell');
  });
});

describe('xenstore keys', () => {
  it('maps a xenstore path to a KV key and back', () => {
    const key = xenstoreKey('h1', vifFrontendPath(1, 0) + '/tx-ring-ref');
    expect(key).toBe('h1.local.domain.1.device.vif.0.tx-ring-ref');
    expect(xenstorePath(key)).toEqual({ host: 'h1', path: '/local/domain/1/device/vif/0/tx-ring-ref' });
  });

  it('refuses a path element holding a dot', () => {
    expect(() => xenstoreKey('h1', '/local/domain/1.5/state')).toThrow(XenstoreKeyError);
    expect(() => xenstoreKey('h.1', '/local')).toThrow(XenstoreKeyError);
  });
});

describe('docs/subjects.md', () => {
  it('matches the catalogue (regenerate with npm run docs -w @vnetlab/proto)', () => {
    const doc = readFileSync(SUBJECTS_DOC_PATH, 'utf8');
    expect(doc).toBe(renderSubjectsMarkdown());
    for (const e of SUBJECT_CATALOGUE) expect(doc).toContain(e.pattern);
  });
});
