import { defineConfig } from 'vitest/config';

// Tests that measure the event loop's responsiveness run on their own, one file at a time, after
// the rest (`npm test` runs both configs): a busy second test process would make their gaps noisy.
export default defineConfig({
  test: {
    include: ['test/**/*.timing.test.ts'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 120_000,
  },
});
