/**
 * Issue 10 item 10, `depends_on` with real processes: `run web` brings up what web depends on
 * first (checked like web's own ports, started and waited for when it has a command, left alone
 * when it is running already), refuses with the dependency named when one cannot come up, and
 * stops what it started once web is gone (checked by pid + start time). `preflight web` checks
 * its dependencies' ports too.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest'
import { dependencyOrder, parseManifest } from '../src/core/index.js'
import type { Proc } from './run-helpers.js'
import {
  SERVICE_FIXTURE,
  cli,
  eventually,
  freePort,
  removeTempDirs,
  startCli,
  startProc,
  startTicks,
  stopProcs,
  tempDir,
} from './run-helpers.js'

vi.setConfig({ testTimeout: 30_000, hookTimeout: 30_000 })

afterEach(stopProcs)
afterAll(removeTempDirs)

const node = process.execPath

/** A manifest `command` running the service fixture with `config`. */
function fixtureCommand(config: Record<string, unknown>): string {
  return `command = "${node} ${SERVICE_FIXTURE} '${JSON.stringify(config).replaceAll('"', '\\"')}'"`
}

/** A command that leaves a marker file: proof that it ran. */
function markerCommand(marker: string): string {
  return `command = "${node} -e 'require(\\"fs\\").writeFileSync(\\"${marker}\\", \\"ran\\")'"`
}

function writeManifest(dir: string, lines: string[]): void {
  writeFileSync(join(dir, 'portwarden.toml'), `${lines.join('\n')}\n`)
}

interface Ready {
  pid: number
  ports: number[]
}

/** Every READY line so far (one per fixture service), in order. */
function readies(run: Proc): Ready[] {
  return run.out
    .filter((line) => line.startsWith('READY '))
    .map((line) => JSON.parse(line.slice(6)) as Ready)
}

/** The pid a fixture service wrote to its record file, once the file is complete. */
function recordedPid(record: string): number | null {
  try {
    return (JSON.parse(readFileSync(record, 'utf8')) as { pid: number }).pid
  } catch {
    return null
  }
}

/** A process (not started by run) listening on `port`, from `cwd`. */
async function holder(port: number, cwd?: string): Promise<{ pid: number; proc: Proc }> {
  const proc = startProc(node, [SERVICE_FIXTURE, JSON.stringify({ listenPorts: [port] })], { cwd })
  const ready = JSON.parse((await proc.waitOut(/^READY (.*)$/))[1] as string) as { pid: number }
  return { pid: ready.pid, proc }
}

describe('run SERVICE starts its dependencies first, and stops them after it', () => {
  it('db (slow to listen, with a health check) is ready before web starts; web exits, db is stopped, none is left', async () => {
    const state = tempDir()
    const [p, q] = [await freePort(), await freePort()]
    const signals = join(state, 'signals')
    writeManifest(state, [
      '[services.web]',
      `ports = [${q}]`,
      fixtureCommand({ listen: ['PORT'], signalFile: signals, signalExitCode: 0 }),
      'depends_on = ["db"]',
      '[services.db]',
      `ports = [${p}]`,
      fixtureCommand({ listen: ['PORT'], http: 200, delayMs: 1500 }),
      'health = { http = "/" }',
    ])
    const run = startCli(['run', '--json', 'web'], { state, cwd: state })
    await run.waitErr(new RegExp(`^portwarden: ready: web on ${q} `))
    // stdout is another pipe: web's own READY line may come after run's stderr says ready
    await run.waitOut(new RegExp(`^READY .*\\b${q}\\b`))
    // web's READY comes second although db took 1.5 s to bind: web was started after db was ready.
    const [db, web] = readies(run)
    expect(db?.ports).toEqual([p])
    expect(web?.ports).toEqual([q])
    const ready = (service: string) =>
      run.err.findIndex((line) => line.startsWith(`portwarden: ready: ${service} `))
    expect(run.err[ready('db')]).toMatch(
      new RegExp(`^portwarden: ready: db on ${p} \\(HTTP 200 in \\d+ ms\\)$`),
    )
    expect(ready('db')).toBeLessThan(ready('web'))
    const dbTicks = startTicks(db!.pid)
    expect(dbTicks).not.toBeNull()

    process.kill(run.pid, 'SIGTERM') // reaches web only; db goes once web has exited
    expect((await run.waitExit()).code).toBe(0)
    expect(readFileSync(signals, 'utf8')).toBe('SIGTERM\n')
    expect(startTicks(db!.pid) === dbTicks).toBe(false)
    expect(run.err).toContain(`portwarden: stopped db (pid ${db!.pid})`)
    const json = JSON.parse(run.out.filter((line) => !line.startsWith('READY')).join('\n')) as {
      service: string
      dependencies: unknown[]
    }
    expect(json.service).toBe('web')
    expect(json.dependencies).toEqual([
      {
        service: 'db',
        ports: [{ name: 'db', protocol: 'tcp', port: p }],
        state: 'started',
        pids: [db!.pid],
        readiness: 'ready',
        health: { ok: true, detail: expect.stringMatching(/^HTTP 200/) },
        exit_code: expect.any(Number),
      },
    ])
  })

  it('dependencies of dependencies come up in order, each once', async () => {
    const state = tempDir()
    const [a, b, c, d] = [await freePort(), await freePort(), await freePort(), await freePort()]
    writeManifest(state, [
      '[services.web]',
      `ports = [${a}]`,
      fixtureCommand({ listen: ['PORT'] }),
      'depends_on = ["api", "cache"]',
      '[services.api]',
      `ports = [${b}]`,
      fixtureCommand({ listen: ['PORT'], delayMs: 300 }),
      'depends_on = ["db"]',
      '[services.cache]',
      `ports = [${c}]`,
      fixtureCommand({ listen: ['PORT'] }),
      'depends_on = ["db"]',
      '[services.db]',
      `ports = [${d}]`,
      fixtureCommand({ listen: ['PORT'], delayMs: 300 }),
    ])
    const run = startCli(['run', 'web'], { state, cwd: state })
    await run.waitErr(/^portwarden: ready: web /)
    await run.waitOut(new RegExp(`^READY .*\\b${a}\\b`))
    expect(readies(run).map((r) => r.ports[0])).toEqual([d, b, c, a])
    process.kill(run.pid, 'SIGTERM')
    await run.waitExit()
    for (const service of ['cache', 'api', 'db'])
      expect(run.err.some((line) => line.startsWith(`portwarden: stopped ${service} (pid `))).toBe(
        true,
      )
    // Stopped last first.
    const stops = run.err.filter((line) => line.startsWith('portwarden: stopped '))
    expect(stops.map((line) => line.split(' ')[2])).toEqual(['cache', 'api', 'db'])
  })

  it('a dependency that is running already is left alone: from the project (with a command), or anything (without one)', async () => {
    const state = tempDir()
    const [p, q, r] = [await freePort(), await freePort(), await freePort()]
    writeManifest(state, [
      '[services.web]',
      `ports = [${q}]`,
      fixtureCommand({ listen: ['PORT'], exitOnStdinEnd: true }),
      'depends_on = ["db", "queue"]',
      '[services.db]',
      `ports = [${p}]`,
      fixtureCommand({ listen: ['PORT'] }),
      '[services.queue]',
      `ports = [${r}]`,
    ])
    const db = await holder(p, state) // runs from the project's directory: it is db
    const queue = await holder(r) // no command: whoever listens is the queue
    const run = startCli(['run', 'web'], { state, cwd: state })
    await run.waitErr(/^portwarden: ready: web /)
    expect(run.err).toContain(
      `portwarden: db is running already (node (pid ${db.pid}) on ${p}): not starting it`,
    )
    expect(run.err).toContain(
      `portwarden: queue is running already (node (pid ${queue.pid}) on ${r}): not starting it`,
    )
    await run.waitOut(new RegExp(`^READY .*\\b${q}\\b`))
    expect(readies(run).map((ready) => ready.ports)).toEqual([[q]])
    run.child.stdin.end()
    expect((await run.waitExit()).code).toBe(0)
    expect(run.err.join('\n')).not.toContain('stopped')
    expect(db.proc.hasExited() || queue.proc.hasExited()).toBe(false)
  })
})

describe('run SERVICE refuses, naming the dependency, when one cannot come up', () => {
  it('its port is held by another process: exit 1, the conflict sentence, nothing started', async () => {
    const state = tempDir()
    const [p, q] = [await freePort(), await freePort()]
    const marker = join(state, 'marker')
    writeManifest(state, [
      '[services.web]',
      `ports = [${q}]`,
      markerCommand(marker),
      'depends_on = ["db"]',
      '[services.db]',
      `ports = [${p}]`,
      markerCommand(`${marker}-db`),
    ])
    const squatter = await holder(p) // runs from the repository, not the project
    const result = await cli(['run', 'web'], { state, cwd: state })
    expect(result.code).toBe(1)
    expect(result.stderr).toContain(
      `portwarden: cannot start web: its dependency db cannot start: port conflict on ${p}: already in use by node (pid ${squatter.pid})`,
    )
    expect(result.stderr).toContain(`portwarden free ${p}/tcp`)
    expect(result.stderr).toContain('web was not started.')
    expect(existsSync(marker)).toBe(false)
    expect(existsSync(`${marker}-db`)).toBe(false)

    const json = await cli(['run', '--json', 'web'], { state, cwd: state })
    expect(json.code).toBe(1)
    expect(JSON.parse(json.stdout)).toMatchObject({
      error: 'port_in_use',
      message: expect.stringMatching(/^cannot start web: its dependency db cannot start: /),
    })
  })

  it('it exits before it is ready, or never listens: exit 1, dependency_failed, what was started is stopped', async () => {
    const state = tempDir()
    const [p, q] = [await freePort(), await freePort()]
    const marker = join(state, 'marker')
    const record = join(state, 'db.json')
    const manifest = (db: Record<string, unknown>) =>
      writeManifest(state, [
        '[services.web]',
        `ports = [${q}]`,
        markerCommand(marker),
        'depends_on = ["db"]',
        '[services.db]',
        `ports = [${p}]`,
        fixtureCommand(db),
      ])

    manifest({ exitCode: 3 })
    const exited = await cli(['run', 'web'], { state, cwd: state })
    expect(exited.code).toBe(1)
    expect(exited.stderr).toContain(`portwarden: db exited (exit code 3) before listening on ${p}`)
    expect(exited.stderr).toContain(
      'portwarden: cannot start web: its dependency db exited (exit code 3) before it was ready',
    )

    manifest({ record })
    const silent = await cli(['run', '--timeout', '1500ms', 'web'], { state, cwd: state })
    expect(silent.code).toBe(1)
    // Its sentence promises nothing about it running on: run stops it.
    expect(silent.stderr).toContain(`portwarden: db did not listen on ${p} within 1.5 s\n`)
    const db = recordedPid(record) as number
    expect(silent.stderr).toContain(`portwarden: stopped db (pid ${db})`)
    expect(silent.stderr).toContain(
      'portwarden: cannot start web: its dependency db did not become ready within 1.5 s',
    )
    expect(startTicks(db)).toBeNull()
    const json = await cli(['run', '--json', '--timeout', '1s', 'web'], { state, cwd: state })
    const error = json.stdout.split('\n').filter((line) => !line.startsWith('READY'))
    expect(JSON.parse(error.join('\n'))).toMatchObject({
      error: 'dependency_failed',
      message: 'cannot start web: its dependency db did not become ready within 1 s',
    })
    expect(existsSync(marker)).toBe(false)
  })

  it('without a command it must be running already', async () => {
    const state = tempDir()
    const [p, q] = [await freePort(), await freePort()]
    const marker = join(state, 'marker')
    writeManifest(state, [
      '[services.web]',
      `ports = [${q}]`,
      markerCommand(marker),
      'depends_on = ["db"]',
      '[services.db]',
      `ports = [${p}]`,
    ])
    const result = await cli(['run', 'web'], { state, cwd: state })
    expect(result.code).toBe(1)
    expect(result.stderr).toContain(
      `portwarden: cannot start web: its dependency db is not running (nothing listens on ${p}), and it has no command to start it`,
    )
    expect(result.stderr).toContain('Start db first, or give [services.db] a command')
    expect(existsSync(marker)).toBe(false)
  })

  it('a signal while a dependency starts stops it, and run dies of the signal; web never starts', async () => {
    const state = tempDir()
    const [p, q] = [await freePort(), await freePort()]
    const marker = join(state, 'marker')
    const record = join(state, 'db.json')
    writeManifest(state, [
      '[services.web]',
      `ports = [${q}]`,
      markerCommand(marker),
      'depends_on = ["db"]',
      '[services.db]',
      `ports = [${p}]`,
      fixtureCommand({ listen: ['PORT'], record, delayMs: 20_000, onSignal: 'ignore' }),
    ])
    const run = startCli(['run', 'web'], { state, cwd: state })
    await eventually(() => recordedPid(record) !== null, 'db to start')
    const db = recordedPid(record) as number
    const ticks = startTicks(db)
    process.kill(run.pid, 'SIGTERM')
    // db ignores SIGTERM: it is killed after the grace time, long before its 30 s timeout.
    expect(await run.waitExit(10_000)).toEqual({ code: null, signal: 'SIGTERM' })
    expect(startTicks(db) === ticks).toBe(false)
    expect(existsSync(marker)).toBe(false)
  })
})

describe('preflight SERVICE checks what it depends on too', () => {
  it("lists the dependencies' ports first, and fails on them", async () => {
    const state = tempDir()
    const [p, q, r] = [await freePort(), await freePort(), await freePort()]
    writeManifest(state, [
      'project = "shop"',
      '[services.web]',
      `ports = [${q}]`,
      'depends_on = ["db"]',
      '[services.db]',
      `ports = [${p}]`,
      '[services.api]',
      `ports = [${r}]`,
    ])
    const free = await cli(['preflight', 'web'], { state, cwd: state })
    expect(free.code, free.stderr).toBe(0)
    expect(free.stdout.split('\n')).toEqual([
      `[PASS] ${p}/tcp (db): available`,
      `[PASS] ${q}/tcp (web): available`,
      'All 2 declared ports can be taken (project shop, portwarden.toml).',
    ])
    const squatter = await holder(p)
    const held = await cli(['preflight', 'web'], { state, cwd: state })
    expect(held.code).toBe(1)
    expect(held.stdout).toContain(`[FAIL] ${p}/tcp (db): in use by node (pid ${squatter.pid}, `)
    expect((await cli(['preflight', 'api'], { state, cwd: state })).code).toBe(0)
  })
})

describe('dependencyOrder', () => {
  it('puts every dependency before the first service that needs it, each once', () => {
    const manifest = parseManifest(
      [
        '[services.web]',
        'depends_on = ["api", "cache"]',
        '[services.api]',
        'depends_on = ["db"]',
        '[services.cache]',
        'depends_on = ["db"]',
        '[services.db]',
        '[services.docs]',
      ].join('\n'),
      '/tmp/portwarden.toml',
    )
    const names = (list: readonly string[]) => dependencyOrder(manifest, list).map((s) => s.name)
    expect(names(['web'])).toEqual(['db', 'api', 'cache', 'web'])
    expect(names(['cache', 'docs'])).toEqual(['db', 'cache', 'docs'])
    expect(names(['db', 'web'])).toEqual(['db', 'api', 'cache', 'web'])
  })
})
