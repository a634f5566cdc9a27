// What other packages (the cross-service tests) use of the controller: the renderers.
export * from './render/index.js';
export { writePrometheusFiles, prometheusDir } from './prometheus.js';
// The comparison's pure parts (topology generator, figures, plots) and the XML check its tests use.
export * from './compare/index.js';
// How a traced frame is printed (the fuzzer prints one when a ping fails).
export { formatTrace } from './inspect_commands.js';
