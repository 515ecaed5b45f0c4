/**
 * Issue 10 item 4: an allocation without a declared health check is judged by more than a TCP
 * connect. `status --health-check` against real node processes holding the allocated ports: one
 * answers HTTP 500 (unhealthy, the status in health_detail), one 404 (up: it answers), one 200,
 * and one that speaks no HTTP (keeps the TCP result).
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { parseJson } from './helpers/cli.js'
import { ROOT } from './helpers/processes.js'
import {
  PORT_ZONES,
  freePortBlock,
  holdPorts,
  killChildren,
  releasePortBlocks,
  removeTempDirs,
  runCliIn,
  tempDir,
} from './helpers/registry.js'

interface JsonStatus {
  allocations: { service: string; health_status: string; health_detail: string | null }[]
}

afterEach(async () => {
  await killChildren()
  releasePortBlocks()
})
afterAll(() => removeTempDirs())

describe('status --health-check without a declared check', () => {
  it('HTTP 500 is unhealthy with its status; 404 and 200 are healthy; a non-HTTP service keeps the TCP result', async () => {
    const worktree = join(tempDir(), 'wt-default-health')
    mkdirSync(join(worktree, '.git'), { recursive: true })
    const path = join(tempDir(), 'registry.db')
    const range = await freePortBlock(10, PORT_ZONES.health)
    const alloc = async (service: string) => {
      const result = await runCliIn(worktree, [
        'alloc',
        service,
        '--range',
        `${range.from}-${range.to}`,
        '--registry',
        path,
        '--json',
      ])
      expect(result.code, result.stdout + result.stderr).toBe(0)
      return parseJson<{ port: number }>(result).port
    }
    const [failing, missing, fine, raw] = [
      await alloc('failing'),
      await alloc('missing'),
      await alloc('fine'),
      await alloc('raw'),
    ]
    const serve = (port: number, status: number, path?: string) =>
      holdPorts({ tcp: [{ host: '127.0.0.1', port }], http: { status, path } }, { cwd: worktree })
    await serve(failing, 500)
    await serve(missing, 200, '/only-here') // GET / is answered 404
    await serve(fine, 200)
    // A plain TCP listener that speaks no HTTP.
    await holdPorts({ tcp: [{ host: '127.0.0.1', port: raw }] }, { cwd: worktree })
    {
      const checked = await runCliIn(ROOT, [
        'status',
        '--health-check',
        '--registry',
        path,
        '--json',
      ])
      expect(checked.code, checked.stderr).toBe(1) // failing is unhealthy
      const byService = Object.fromEntries(
        parseJson<JsonStatus>(checked).allocations.map((a) => [a.service, a]),
      )
      expect(byService.failing).toMatchObject({
        health_status: 'unhealthy',
        health_detail: 'HTTP 500, a server error',
      })
      expect(byService.missing?.health_status).toBe('healthy')
      expect(byService.missing?.health_detail).toMatch(/^HTTP 404 in \d+ ms/)
      expect(byService.fine?.health_status).toBe('healthy')
      expect(byService.fine?.health_detail).toMatch(/^HTTP 200 in \d+ ms$/)
      expect(byService.raw?.health_status).toBe('healthy')
      // the fixture closes a connection it does not serve HTTP on: still the TCP result
      expect(byService.raw?.health_detail).toMatch(/^accepted a TCP connection in \d+ ms\b/)
    }
  }, 60_000)
})
