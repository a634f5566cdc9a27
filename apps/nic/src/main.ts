#!/usr/bin/env node
// Entry point of the nic service as its own process.
import { parseServiceArgs } from '@vnetlab/runtime';
import { NIC_SPEC, startNic } from './nic_service.js';

await startNic(parseServiceArgs(process.argv.slice(2), NIC_SPEC));
