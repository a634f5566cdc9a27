import { isMap, isPair, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';
import type { PathSegment } from './topology_error.js';

/**
 * Finds where a path points in the YAML source. Walks as far as the path exists (a missing
 * key is reported at its parent); with `atKey`, the last segment points at the key itself
 * (for "unknown key" problems) rather than its value.
 */
export function locate(doc: Document, lines: LineCounter, path: readonly PathSegment[], atKey = false): { line: number; column: number } | undefined {
  let node: unknown = doc.contents;
  let found: unknown = node;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i]!;
    let next: unknown;
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && (isScalar(p.key) ? p.key.value : p.key) === seg);
      if (!pair) break;
      next = atKey && i === path.length - 1 ? pair.key : pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      next = node.items[seg];
    }
    if (next === undefined || next === null) break;
    node = next;
    found = next;
  }
  const range = (found as Node | null)?.range;
  if (!range) return undefined;
  const { line, col } = lines.linePos(range[0]);
  return { line, column: col };
}
