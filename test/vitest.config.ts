import { defineConfig } from 'vitest/config';

// Cross-service tests start real nats-servers and real service processes: one file at a
// time keeps two cores from being oversubscribed, and the timeouts allow for start-up.
export default defineConfig({
  test: {
    include: ['integration/**/*.test.ts', 'chaos/**/*.test.ts', 'deploy/**/*.test.ts', 'fuzz/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
