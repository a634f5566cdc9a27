// What other packages (the cross-service tests) use of the controller: the renderers.
export * from './render/index.js';
export { writePrometheusFiles, prometheusDir } from './prometheus.js';
