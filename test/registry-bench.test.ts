/**
 * Benchmark figures for bench/RESULTS.md, printed, not asserted (the machine's load decides them):
 * `portwarden alloc` end to end against `node -e 0`, and 1 000 allocations through the library on
 * SQLite (one process, one open registry). Each is also checked for being correct.
 */
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { CLI } from './helpers/cli.js'
import { ROOT } from './helpers/processes.js'
import {
  PORT_ZONES,
  freePortBlock,
  releasePortBlocks,
  removeTempDirs,
  sqliteRows,
  tempDir,
} from './helpers/registry.js'

afterAll(removeTempDirs)
afterEach(releasePortBlocks)

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] as number
}

function timeRun(args: string[]): number {
  const started = performance.now()
  const result = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8' })
  const ms = performance.now() - started
  if (result.status !== 0) throw new Error(`node ${args.join(' ')} failed: ${result.stderr}`)
  return ms
}

describe('benchmark figures (printed for bench/RESULTS.md)', () => {
  it('`alloc` end to end vs `node -e 0` (target: within 1.5x)', async () => {
    const path = join(tempDir(), 'registry.db')
    const range = await freePortBlock(100, PORT_ZONES.bench)
    const r = ['--range', `${range.from}-${range.to}`, '--registry', path]
    timeRun([CLI, 'alloc', 'warm-up', '--project', 'bench', ...r]) // creates the registry
    const RUNS = 15
    const bare: number[] = []
    const created: number[] = []
    const repeated: number[] = []
    for (let i = 0; i < RUNS; i++) {
      bare.push(timeRun(['-e', '0']))
      created.push(timeRun([CLI, 'alloc', `svc-${i}`, '--project', 'bench', ...r]))
      repeated.push(timeRun([CLI, 'alloc', `svc-${i}`, '--project', 'bench', ...r]))
    }
    expect(sqliteRows(path)).toHaveLength(RUNS + 1)
    const [b, c, rep] = [median(bare), median(created), median(repeated)]
    console.log(
      `[bench] alloc end to end, median of ${RUNS}: node -e 0 ${b.toFixed(0)} ms; alloc (new) ${c.toFixed(0)} ms = ${(c / b).toFixed(2)}x; ` +
        `alloc (existing, idempotent) ${rep.toFixed(0)} ms = ${(rep / b).toFixed(2)}x`,
    )
  }, 120_000)

  it('1 000 allocations through the library on SQLite (target: < 1 s)', async () => {
    const path = join(tempDir(), 'registry.db')
    const range = await freePortBlock(1200, PORT_ZONES.bench)
    const script = `
      const { openRegistry, allocate } = await import(${JSON.stringify(`${ROOT}dist/core/index.js`)})
      const store = await openRegistry({ location: ${JSON.stringify(path)} })
      const range = ${JSON.stringify(range)}
      const started = performance.now()
      for (let i = 0; i < 1000; i++) await allocate(store, { project: 'bench', service: 's' + i, range })
      const ms = performance.now() - started
      const again = performance.now()
      for (let i = 0; i < 1000; i++) await allocate(store, { project: 'bench', service: 's' + i, range })
      const idempotent = performance.now() - again
      await store.close()
      console.log(JSON.stringify({ ms, idempotent }))`
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: ROOT,
      encoding: 'utf8',
    })
    expect(result.status, result.stderr).toBe(0)
    const { ms, idempotent } = JSON.parse(result.stdout) as { ms: number; idempotent: number }
    const sockets = spawnSync('ss', ['-tuanH'], { encoding: 'utf8' })
      .stdout.split('\n')
      .filter(Boolean).length
    expect(sqliteRows(path)).toHaveLength(1000)
    console.log(
      `[bench] 1000 library allocations on SQLite: ${ms.toFixed(0)} ms (${(ms / 1000).toFixed(2)} ms each); ` +
        `1000 repeated (idempotent) ${idempotent.toFixed(0)} ms; sockets on the host during the run: ${sockets}`,
    )
  }, 120_000)
})
