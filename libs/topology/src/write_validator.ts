// Build step: writes the topology schema's validator as a module beside the compiled library
// (npm run build runs it after tsc), so that a service loads it instead of compiling it.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { VALIDATOR_FILE, validatorSource } from './topology_schema.js';

const out = fileURLToPath(new URL(`./${VALIDATOR_FILE}`, import.meta.url));
writeFileSync(out, validatorSource());
process.stdout.write(`wrote ${out}\n`);
