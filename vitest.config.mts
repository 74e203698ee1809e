import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/**/*.timing.test.ts', 'node_modules/**'],
    // One libtorch per worker process is heavy on a 2-core machine: run files in forks, a few at a time.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    // global.gc for the memory tests (leak and GC-backstop checks); harmless elsewhere.
    execArgv: ['--expose-gc'],
  },
});
