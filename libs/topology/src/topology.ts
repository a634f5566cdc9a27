import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument } from 'yaml';
import { checkTopology } from './topology_checks.js';
import { applyDefaults } from './topology_defaults.js';
import { TopologyError, formatPath, type PathSegment, type TopologyProblem } from './topology_error.js';
import { schemaProblems } from './topology_schema.js';
import type { Topology } from './types.js';
import { locate } from './yaml_locator.js';

const DEFAULT_FILE_NAME = '<topology>';

/**
 * Parses, validates and normalizes a topology. Throws TopologyError listing every problem
 * found at the first stage that fails (YAML syntax, then the schema, then the lab's rules),
 * each with the line and column it points at.
 */
export function parseTopology(text: string, fileName = DEFAULT_FILE_NAME): Topology {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new TopologyError(fileName, doc.errors.map((e) => {
      const { line, col } = lines.linePos(e.pos[0]);
      return { path: '', line, column: col, message: `YAML syntax: ${e.message}` };
    }));
  }

  const at = (path: PathSegment[], message: string, atKey = false): TopologyProblem => {
    const pos = locate(doc, lines, path, atKey);
    return { path: formatPath(path), ...(pos ? { line: pos.line, column: pos.column } : {}), message };
  };

  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    throw new TopologyError(fileName, [{ path: '', message: `YAML: ${(e as Error).message}` }]);
  }
  const schema = schemaProblems(raw);
  if (schema.length > 0) throw new TopologyError(fileName, sortProblems(schema.map((p) => at(p.path, p.message, p.atKey))));

  const topology = applyDefaults(raw);
  const rules = checkTopology(topology);
  if (rules.length > 0) throw new TopologyError(fileName, sortProblems(rules.map((p) => at(p.path, p.message))));
  return topology;
}

/** Reads and parses a topology file; an unreadable file is a TopologyError too. */
export function loadTopology(path: string): Topology {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new TopologyError(path, [{ path: '', message: `cannot read the file (${err.code ?? err.message})` }]);
  }
  return parseTopology(text, path);
}

function sortProblems(ps: TopologyProblem[]): TopologyProblem[] {
  return ps.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
}
