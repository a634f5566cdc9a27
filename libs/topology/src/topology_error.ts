export type PathSegment = string | number;

export interface TopologyProblem {
  path: string;       // e.g. hosts[0].guests[1].memory_mib ('' for the file as a whole)
  line?: number;      // 1-based
  column?: number;    // 1-based
  message: string;
}

/** hosts[0].guests[1].memory_mib */
export function formatPath(path: readonly PathSegment[]): string {
  let s = '';
  for (const seg of path) s += typeof seg === 'number' ? `[${seg}]` : s === '' ? seg : `.${seg}`;
  return s;
}

/** Every problem found in a topology file, each as FILE:LINE:COL: path: message. */
export class TopologyError extends Error {
  override readonly name = 'TopologyError';
  constructor(readonly fileName: string, readonly problems: TopologyProblem[]) {
    super(
      `invalid topology ${fileName} (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n` +
        problems.map((p) => formatProblem(fileName, p)).join('\n'),
    );
  }
}

export function formatProblem(fileName: string, p: TopologyProblem): string {
  const where = p.line === undefined ? fileName : `${fileName}:${p.line}:${p.column ?? 1}`;
  return `${where}: ${p.path === '' ? '' : `${p.path}: `}${p.message}`;
}
