// Writes docs/subjects.md (repository root) from the catalogue: `npm run docs`.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderSubjectsMarkdown } from './subjects_doc.js';

export const SUBJECTS_DOC_PATH = fileURLToPath(new URL('../../../docs/subjects.md', import.meta.url));

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(SUBJECTS_DOC_PATH, renderSubjectsMarkdown());
  console.log(`wrote ${SUBJECTS_DOC_PATH}`);
}
