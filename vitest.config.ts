import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    // Tests open real sockets and spawn real processes; keep the two cores for them.
    fileParallelism: true,
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 30_000,
    reporters: ['default', './test/helpers/summary-reporter.ts'],
    projects: [
      { extends: true, test: { name: 'unit', include: ['src/**/*.test.ts'] } },
      { extends: true, test: { name: 'linux', include: ['test/**/*.test.ts'] } },
    ],
  },
})
