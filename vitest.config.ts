import { defineConfig } from 'vitest/config'

/**
 * Tests that read no socket tables (registry storage, manifests, health probes), and the packed
 * package's install test, which is about the addon and builds its own environment either way.
 */
const PROC_PASS_SKIPS = [
  'test/registry-{model,store,paths,durability,concurrency,bench}.test.ts',
  'test/manifest.test.ts',
  'test/health-probes.test.ts',
  'test/free-units.test.ts',
  'test/prebuilt-package.test.ts',
]

/**
 * Files that load the whole machine on purpose (R1 heavy starts 64 node processes; R2 and R3 start
 * 24-30 CLI processes at once) or time it (registry-bench). Beside them, any other file's spawned
 * processes ran up to six times slower (prune's tests passed 30 s in CI), and the bench figures
 * measured the neighbours. They run last, one file at a time, with the rest of the suite done.
 */
const LOAD_FILES = ['test/registry-concurrency.test.ts', 'test/registry-bench.test.ts']

export default defineConfig({
  test: {
    // Tests open real sockets and spawn real processes; keep the two cores for them.
    fileParallelism: true,
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 30_000,
    reporters: ['default', './test/helpers/summary-reporter.ts'],
    // `PORTWARDEN_NO_NATIVE=1 vitest run` (the second pass of `npm test`) runs the pure
    // TypeScript path (/proc/net tables, JS fd walk) on every test that lists, checks or
    // watches sockets.
    projects:
      process.env.PORTWARDEN_NO_NATIVE === '1'
        ? [
            {
              extends: true,
              test: {
                name: 'proc-backend',
                include: ['test/**/*.test.ts'],
                exclude: PROC_PASS_SKIPS,
              },
            },
          ]
        : [
            { extends: true, test: { name: 'unit', include: ['src/**/*.test.ts'] } },
            {
              extends: true,
              test: { name: 'linux', include: ['test/**/*.test.ts'], exclude: LOAD_FILES },
            },
            {
              extends: true,
              test: {
                name: 'load',
                include: LOAD_FILES,
                fileParallelism: false,
                sequence: { groupOrder: 1 },
              },
            },
          ],
  },
})
