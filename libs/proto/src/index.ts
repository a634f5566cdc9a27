// @vnetlab/proto: every wire type of the lab (generated from proto/ by `npm run generate`)
// and the catalogue of NATS subjects that carry them.
export * as hypercall from './gen/vnetlab/hypercall/v1/hypercall.js';
export * as netif from './gen/vnetlab/netif/v1/netif.js';
export * as pcie from './gen/vnetlab/pcie/v1/pcie.js';
export * as eth from './gen/vnetlab/eth/v1/eth.js';
export * as control from './gen/vnetlab/control/v1/control.js';
export * as protection from './gen/vnetlab/protection/v1/protection.js';
export * as fault from './gen/vnetlab/fault/v1/fault.js';
export * as inspect from './gen/vnetlab/inspect/v1/inspect.js';
export * as migration from './gen/vnetlab/migration/v1/migration.js';
export * from './subjects.js';
export * from './xenstore.js';
export * from './taps.js';
export { renderSubjectsMarkdown } from './subjects_doc.js';
