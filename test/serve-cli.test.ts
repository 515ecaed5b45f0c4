/**
 * Issue 6, `portwarden serve` as a command: bad flags are usage errors (exit 2), a port already
 * taken names its holder (exit 1), SIGINT and SIGTERM stop it cleanly (exit 0), and
 * `--health-interval` keeps the registry's health statuses fresh with no request asking for it.
 */
import { writeFileSync } from 'node:fs'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { runCli } from './helpers/cli.js'
import { startPortHolder } from './helpers/hold-port.js'
import { stopStarted } from './helpers/processes.js'
import { removeServeDirs, serveTempDir, startServe, stopServe } from './helpers/serve.js'

afterEach(stopStarted)
afterAll(removeServeDirs)

describe('serve as a command', () => {
  it('refuses bad --port, --host and --health-interval values with exit 2 and no stack trace', async () => {
    const dir = serveTempDir()
    const env = { PORTWARDEN_STATE_DIR: `${dir}/state` }
    for (const args of [
      ['--port', '65536'],
      ['--port', '0x1F90'],
      ['--port', '-1'],
      ['--health-interval', 'soon'],
      ['--health-interval', '100ms'],
      ['--health-interval', '2h'],
      ['--host', 'not an address!'],
    ]) {
      const result = await runCli(['serve', '--port', '0', ...args], { env, timeoutMs: 15_000 })
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(2)
      expect(result.stderr).toMatch(/^portwarden: /)
      expect(result.stderr).not.toMatch(/^\s+at /m)
    }
  })

  it('a state directory that cannot be made: exit 3 naming the token file, no stack trace', async () => {
    const dir = serveTempDir()
    writeFileSync(`${dir}/not-a-directory`, '')
    const result = await runCli(['serve', '--port', '0'], {
      env: { PORTWARDEN_STATE_DIR: `${dir}/not-a-directory/state` },
      timeoutMs: 15_000,
    })
    expect(result.code).toBe(3)
    expect(result.stderr).toContain(`Cannot use the token file ${dir}/not-a-directory/state/token`)
    expect(result.stderr).toContain('PORTWARDEN_STATE_DIR')
    expect(result.stderr).not.toMatch(/Internal error|^\s+at /m)
  })

  it('a port another process holds: exit 1 naming it', async () => {
    const dir = serveTempDir()
    const held = await startPortHolder(dir)
    const result = await runCli(['serve', '--port', String(held.port)], {
      env: { PORTWARDEN_STATE_DIR: `${dir}/state` },
      timeoutMs: 15_000,
    })
    expect(result.code).toBe(1)
    expect(result.stderr).toContain(`pid ${held.pid}`)
  })

  it('stops cleanly on SIGINT as on SIGTERM (exit 0), closing open event streams', async () => {
    const serve = await startServe()
    const controller = new AbortController()
    const response = await fetch(`${serve.url}/api/events`, { signal: controller.signal })
    const reader = response.body!.getReader()
    await reader.read()
    process.kill(serve.pid, 'SIGINT')
    expect(await serve.process.exited).toBe(0)
    controller.abort()
  })

  it('--health-interval re-checks allocations on its own', async () => {
    const serve = await startServe({ args: ['--health-interval', '1s'] })
    const created = await serve.request('/api/allocations', {
      method: 'POST',
      body: { project: 'fresh', service: 'web', range: '26000-26999' },
    })
    expect(created.status).toBe(201)
    expect(created.json.last_checked_at).toBeNull()
    const deadline = Date.now() + 10_000
    let allocation: { health_status: string; last_checked_at: string | null } | undefined
    while (Date.now() < deadline) {
      const listed = await serve.request('/api/allocations', { auth: false })
      allocation = listed.json.allocations.find((a: { id: number }) => a.id === created.json.id)
      if (allocation?.last_checked_at) break
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
    expect(allocation).toMatchObject({ health_status: 'not_running' })
    expect(allocation?.last_checked_at).not.toBeNull()
    expect(await stopServe(serve)).toBe(0)
  })
})
