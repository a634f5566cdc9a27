#!/usr/bin/env node
// Entry point of the driver-domain service as its own process.
import { parseServiceArgs } from '@vnetlab/runtime';
import { DRIVER_DOMAIN_SPEC, startDriverDomain } from './driver_domain_service.js';

await startDriverDomain(parseServiceArgs(process.argv.slice(2), DRIVER_DOMAIN_SPEC));
