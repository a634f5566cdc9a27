// `vnetlab compare` and `vnetlab explain`: the pure parts, for other packages and tests.
export * from './compare_topology.js';
export * from './compare_figures.js';
export * from './compare_report.js';
export { runSweep, checkSweepOptions, costSources, type LabDriver, type SweepOptions } from './compare_sweep.js';
export * from './svg.js';
export * from './xml_check.js';
