/**
 * The story issue 5 is about, end to end with real processes: a stale python3 server answers 503
 * on a port; `who` names it; `free --yes` stops it (the fixture records the SIGTERM) and the port
 * is released; `run` starts the real service on that port and its HTTP health check passes.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { runCli } from './helpers/cli.js'
import { startPortHolder } from './helpers/hold-port.js'
import { PYTHON, stopStarted } from './helpers/processes.js'
import { startCli, stopProcs } from './run-helpers.js'

const dir = mkdtempSync(join(tmpdir(), 'pw-story-'))
afterEach(async () => {
  await stopProcs()
  await stopStarted()
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('the stale-process story, end to end', () => {
  it('who names the stale server, free stops it, run starts the real one and its health check passes', async () => {
    const ready = await startPortHolder(dir, ['--http', '503'])
    const port = ready.port
    const before = await fetch(`http://127.0.0.1:${port}/`)
    expect(before.status).toBe(503)
    expect(await before.text()).toBe('Stale process\n')

    const who = await runCli(['who', String(port)])
    expect(who.code).toBe(0)
    expect(who.stdout).toContain(
      `TCP port ${port} is already in use by ${ready.comm} (pid ${ready.pid}`,
    )

    const freed = await runCli(['free', '--yes', String(port)])
    expect(freed.code, freed.stdout + freed.stderr).toBe(0)
    expect(freed.stdout).toContain(`TCP port ${port} is free`)
    expect(ready.signals()).toEqual(['SIGTERM'])

    // The real service: python3's http.server on the same port, started through `run`.
    const state = join(dir, 'state')
    const run = startCli(
      [
        'run',
        '--port',
        String(port),
        '--health',
        'http:/',
        '--',
        PYTHON,
        '-m',
        'http.server',
        String(port),
        '--bind',
        '127.0.0.1',
      ],
      { state, cwd: dir },
    )
    const line = await run.waitErr(/^portwarden: ready: .*$/, 20_000)
    expect(line[0]).toMatch(new RegExp(`${port}`))
    expect(line[0]).toMatch(/HTTP 200/)
    const after = await fetch(`http://127.0.0.1:${port}/`)
    expect(after.status).toBe(200)
    await after.text()

    process.kill(run.pid, 'SIGTERM')
    const exit = await run.waitExit(10_000)
    // The service died of the relayed SIGTERM: run passes that through as 128 + 15.
    expect(exit.code).toBe(143)
  })
})
