/**
 * The story issue 5 is about, end to end with real processes: a stale python3 server answers 503
 * on a port; `who` names it; `free --yes` stops it (the fixture records the SIGTERM) and the port
 * is released; `run` starts the real service on that port and its HTTP health check passes.
 * Issue 13's version: the judgement is portwarden's too — `who` says the squatter looks stale (the
 * registry gives its port to the project's api; it was orphaned); `prune` stops the project's own
 * stale server (it answers 503, its launcher is gone) and leaves the squatter from elsewhere to
 * `free`; `run api` from the manifest starts, and `status --health-check` finds it healthy.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { runCli } from './helpers/cli.js'
import { startPortHolder } from './helpers/hold-port.js'
import { PYTHON, stopStarted } from './helpers/processes.js'
import { runCliIn } from './helpers/registry.js'
import { holdStale, isAlive, stopStaleHolders } from './helpers/stale-holder.js'
import { freePort, startCli, stopProcs } from './run-helpers.js'

const dir = mkdtempSync(join(tmpdir(), 'pw-story-'))
afterEach(async () => {
  await stopProcs()
  await stopStarted()
  await stopStaleHolders()
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

  it("who judges the squatter stale, prune stops the project's own stale server, free the squatter, run starts api, healthy", async () => {
    const project = join(dir, 'shop')
    const elsewhere = join(dir, 'elsewhere')
    mkdirSync(project)
    mkdirSync(elsewhere)
    const [apiPort, webPort] = [await freePort(), await freePort()]
    writeFileSync(
      join(project, 'portwarden.toml'),
      [
        'project = "shop"',
        '[services.api]',
        `ports = [${apiPort}]`,
        `command = "${PYTHON} -m http.server ${apiPort} --bind 127.0.0.1"`,
        'health = { http = "/", expect = 200 }',
        '[services.web]',
        `ports = [${webPort}]`,
        '',
      ].join('\n'),
    )
    const registry = join(dir, 'story.db')
    const env = { env: { PORTWARDEN_REGISTRY: registry } }
    // The registry gives api its port, recorded from the project's directory.
    expect((await runCliIn(project, ['alloc', 'api', '--port', String(apiPort)], env)).code).toBe(0)
    // A leftover from elsewhere squats api's port, answering 503; the project's own old web
    // server (its terminal gone) still holds web's port and answers 503 too.
    const squatter = await holdStale(['--orphan', '--http', '503', '--port', String(apiPort)], {
      cwd: elsewhere,
    })
    const own = await holdStale(['--orphan', '--http', '503', '--port', String(webPort)], {
      cwd: project,
    })

    const who = await runCliIn(project, ['who', String(apiPort)], env)
    expect(who.code).toBe(0)
    expect(who.stdout).toMatch(/\(looks stale: the port is allocated to shop\/api, orphaned .* ago/)

    const pruned = await runCliIn(project, ['prune', '--yes'], env)
    expect(pruned.code, pruned.stdout + pruned.stderr).toBe(0)
    expect(pruned.stdout).toContain(`TCP port ${webPort} is free`)
    expect(pruned.stderr).toContain(`not this project's: python3 (pid ${squatter.pid}`)
    expect(isAlive(own.pid)).toBe(false)
    expect(isAlive(squatter.pid)).toBe(true) // not the project's: prune never signals it

    const freed = await runCliIn(project, ['free', '--yes', String(apiPort)], env)
    expect(freed.code, freed.stdout + freed.stderr).toBe(0)
    expect(freed.stdout).toContain(`TCP port ${apiPort} is free`)
    expect(isAlive(squatter.pid)).toBe(false)

    const run = startCli(['run', 'api'], {
      state: join(dir, 'story-state'),
      cwd: project,
      env: { PORTWARDEN_REGISTRY: registry },
    })
    const line = await run.waitErr(/^portwarden: ready: .*$/, 20_000)
    expect(line[0]).toMatch(/HTTP 200/)
    const status = await runCliIn(project, ['status', '--health-check', '--json'], env)
    const rows = (
      JSON.parse(status.stdout) as { allocations: { service: string; health_status: string }[] }
    ).allocations
    expect(rows.find((a) => a.service === 'api')?.health_status).toBe('healthy')
    process.kill(run.pid, 'SIGTERM')
    await run.waitExit(10_000)
  })
})
