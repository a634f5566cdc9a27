#!/usr/bin/env node
// Entry point of the fabric service as its own process.
import { parseServiceArgs } from '@vnetlab/runtime';
import { FABRIC_SPEC, startFabric } from './fabric_service.js';

await startFabric(parseServiceArgs(process.argv.slice(2), FABRIC_SPEC));
