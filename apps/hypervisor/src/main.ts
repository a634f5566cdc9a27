#!/usr/bin/env node
// Entry point of the hypervisor service as its own process.
import { parseServiceArgs } from '@vnetlab/runtime';
import { HYPERVISOR_SPEC, startHypervisor } from './hypervisor_service.js';

await startHypervisor(parseServiceArgs(process.argv.slice(2), HYPERVISOR_SPEC));
