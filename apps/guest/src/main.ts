#!/usr/bin/env node
// Entry point of the guest service as its own process.
import { parseServiceArgs } from '@vnetlab/runtime';
import { GUEST_SPEC, startGuest } from './guest_service.js';

await startGuest(parseServiceArgs(process.argv.slice(2), GUEST_SPEC));
