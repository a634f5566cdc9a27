// For the topology tests: what a file that must not load was refused for.
import { expect } from 'vitest';
import { parseTopology, TopologyError, type TopologyProblem } from './index.js';

export function problemsOf(text: string): TopologyProblem[] {
  try {
    parseTopology(text, 'lab.yaml');
  } catch (e) {
    expect(e).toBeInstanceOf(TopologyError);
    return (e as TopologyError).problems;
  }
  throw new Error('expected a TopologyError');
}
