/**
 * `status --check-conflicts` / `--import` (REGISTRY CONFLICT, SYSTEM CONFLICT, ALLOCATION
 * MISMATCH, the summary, exit 1) and `status --health-check` (not_running, HTTP 200 / 503, and
 * PostgreSQL and Redis servers started for real), through the CLI. Services are real processes:
 * test/fixtures/registry-listen.mjs (node) started in or outside the allocation's worktree.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { userInfo } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { openRegistry } from '../src/core/index.js'
import { parseJson, stackTraceLines } from './helpers/cli.js'
import { startHttpServer } from './helpers/manifest-cli.js'
import { ROOT, stopStarted } from './helpers/processes.js'
import {
  PORT_ZONES,
  freePortBlock,
  holdPorts,
  killChildren,
  releasePortBlocks,
  removeTempDirs,
  runCliIn,
  sqliteRows,
  tempDir,
} from './helpers/registry.js'
import type { RunningPostgres, RunningRedis } from './helpers/servers.js'
import { postgresBinaries, redisBinary, startPostgres, startRedis } from './helpers/servers.js'

const ZONE = PORT_ZONES.conflicts

interface JsonConflict {
  kind: 'registry_conflict' | 'system_conflict' | 'allocation_mismatch'
  protocol: string
  port: number
  message: string
  resolution: string
  verified: boolean
  allocations: {
    project: string
    service: string
    port: number
    source: string
    entry: number | null
  }[]
  holders: { local_port: number; processes: { pid: number; name: string }[] }[]
}
interface JsonStatus {
  registry: string
  allocations: {
    project: string
    service: string
    port: number
    health_status: string
    last_checked_at: string | null
    health_detail: string | null
  }[]
  conflicts?: JsonConflict[]
  summary?: {
    registry_conflict: number
    system_conflict: number
    allocation_mismatch: number
    allocations: number
  }
}

afterEach(async () => {
  await Promise.all([killChildren(), stopStarted()])
  releasePortBlocks()
})
afterAll(removeTempDirs)

/** A git worktree (a folder holding .git) named `name`, with a subdirectory. */
function makeWorktree(name: string): string {
  const dir = join(tempDir(), name)
  mkdirSync(join(dir, '.git'), { recursive: true })
  mkdirSync(join(dir, 'services', 'web'), { recursive: true })
  return dir
}

describe('status --check-conflicts', () => {
  it('ALLOCATION MISMATCH, then SYSTEM CONFLICT (outside holder, named with pid), then none when the holder runs in the worktree', async () => {
    const worktree = makeWorktree('wt-conflicts')
    const path = join(tempDir(), 'registry.db')
    const range = await freePortBlock(10, ZONE)
    const made = await runCliIn(worktree, [
      'alloc',
      'web',
      '--range',
      `${range.from}-${range.to}`,
      '--registry',
      path,
      '--json',
    ])
    expect(made.code).toBe(0)
    const { port, project } = parseJson<{ port: number; project: string }>(made)
    expect(project).toBe('wt-conflicts')
    const check = (json = true) =>
      runCliIn(ROOT, [
        'status',
        '--check-conflicts',
        '--registry',
        path,
        ...(json ? ['--json'] : []),
      ])

    // nothing listens: ALLOCATION MISMATCH
    const mismatch = await check()
    expect(mismatch.code).toBe(1)
    const m = parseJson<JsonStatus>(mismatch)
    expect(m.conflicts).toHaveLength(1)
    expect(m.conflicts?.[0]).toMatchObject({ kind: 'allocation_mismatch', port, protocol: 'tcp' })
    expect(m.conflicts?.[0]?.resolution).toContain('portwarden release web --project wt-conflicts')
    expect(m.summary).toEqual({
      registry_conflict: 0,
      system_conflict: 0,
      allocation_mismatch: 1,
      allocations: 1,
    })
    const mismatchText = await check(false)
    expect(mismatchText.code).toBe(1)
    expect(mismatchText.stdout).toMatch(
      new RegExp(
        `ALLOCATION MISMATCH: TCP port ${port} is allocated to web of wt-conflicts, but nothing is listening on it`,
      ),
    )
    expect(mismatchText.stdout).toMatch(
      /Summary: 0 registry conflicts, 0 system conflicts, 1 allocation mismatch across 1 allocation\./,
    )

    // an outside process (cwd elsewhere) holds it: SYSTEM CONFLICT naming it, with its pid
    const outsider = await holdPorts({ tcp: [{ host: '127.0.0.1', port }] }, { cwd: tempDir() })
    const system = await check()
    expect(system.code).toBe(1)
    const s = parseJson<JsonStatus>(system)
    expect(s.conflicts).toHaveLength(1)
    const conflict = s.conflicts?.[0] as JsonConflict
    expect(conflict).toMatchObject({ kind: 'system_conflict', port })
    expect(conflict.holders[0]?.processes).toEqual([
      expect.objectContaining({ pid: outsider.pid, name: 'node' }),
    ])
    expect(conflict.message).toContain(`pid ${outsider.pid}`)
    expect(conflict.message).toMatch(/since \d{4}-/)
    expect(conflict.resolution).toContain(`portwarden free ${port}/tcp`)
    expect(s.summary).toEqual({
      registry_conflict: 0,
      system_conflict: 1,
      allocation_mismatch: 0,
      allocations: 1,
    })
    const systemText = await check(false)
    expect(systemText.stdout).toMatch(
      new RegExp(
        `SYSTEM CONFLICT: TCP port ${port} is allocated to web of wt-conflicts, but node \\(pid ${outsider.pid}`,
      ),
    )
    expect(systemText.stdout).toContain(`resolve: portwarden free ${port}/tcp`)
    expect(systemText.stdout).toMatch(
      /Summary: 0 registry conflicts, 1 system conflict, 0 allocation mismatches across 1 allocation\./,
    )
    await outsider.stop()

    // the service itself, running inside the worktree (a subdirectory): no conflict
    const own = await holdPorts(
      { tcp: [{ host: '127.0.0.1', port }] },
      { cwd: join(worktree, 'services', 'web') },
    )
    const clean = await check()
    expect(clean.code, clean.stdout).toBe(0)
    expect(parseJson<JsonStatus>(clean)).toMatchObject({
      conflicts: [],
      summary: { registry_conflict: 0, system_conflict: 0, allocation_mismatch: 0, allocations: 1 },
    })
    const cleanText = await check(false)
    expect(cleanText.code).toBe(0)
    expect(cleanText.stdout).not.toMatch(/CONFLICT|MISMATCH:/)
    await own.stop()
  })

  it('no conflict when the holder is the recorded --pid, even outside the worktree; a conflict for a different pid', async () => {
    const path = join(tempDir(), 'registry.db')
    const range = await freePortBlock(10, ZONE)
    const elsewhere = tempDir()
    const service = await holdPorts({}, { cwd: elsewhere }) // a process, listening on nothing yet
    const made = await runCliIn(makeWorktree('wt-pid'), [
      'alloc',
      'api',
      '--pid',
      String(service.pid),
      '--range',
      `${range.from}-${range.to}`,
      '--registry',
      path,
      '--json',
    ])
    expect(made.code).toBe(0)
    const { port } = parseJson<{ port: number }>(made)
    await service.listen('127.0.0.1', port)
    const owned = await runCliIn(ROOT, [
      'status',
      '--check-conflicts',
      '--registry',
      path,
      '--json',
    ])
    expect(owned.code, owned.stdout).toBe(0)
    expect(parseJson<JsonStatus>(owned).conflicts).toEqual([])
    await service.stop()
    const stranger = await holdPorts({ tcp: [{ host: '127.0.0.1', port }] }, { cwd: elsewhere })
    const foreign = await runCliIn(ROOT, [
      'status',
      '--check-conflicts',
      '--registry',
      path,
      '--json',
    ])
    expect(foreign.code).toBe(1)
    expect(parseJson<JsonStatus>(foreign).conflicts?.[0]).toMatchObject({
      kind: 'system_conflict',
      port,
    })
    expect(parseJson<JsonStatus>(foreign).conflicts?.[0]?.message).toContain(`pid ${stranger.pid}`)
  })

  it('REGISTRY CONFLICT from --import (the common JSON form): duplicates inside the file and against the registry, with the summary', async () => {
    const dir = tempDir()
    const path = join(dir, 'registry.db')
    const range = await freePortBlock(10, ZONE)
    const p = (i: number) => range.from + i
    expect(
      (
        await runCliIn(ROOT, [
          'alloc',
          'web',
          '--project',
          'shop',
          '--port',
          String(p(0)),
          '--registry',
          path,
        ])
      ).code,
    ).toBe(0)
    const file = join(dir, 'outport.json')
    writeFileSync(
      file,
      JSON.stringify({
        allocations: [
          { port: p(1), worktree: 'review-GH-42', service: 'web' },
          { port: p(1), worktree: 'review-GH-43', service: 'web' }, // the same port twice in the file
          { port: p(0), worktree: 'blog', service: 'api' }, // the registry's port
          { port: p(2), worktree: 'review-GH-42', service: 'db', protocol: 'tcp' },
          { port: p(1), worktree: 'review-GH-42', service: 'web', protocol: 'udp' }, // udp: no clash
        ],
      }),
    )
    const result = await runCliIn(ROOT, ['status', '--import', file, '--registry', path, '--json'])
    expect(result.code).toBe(1)
    const body = parseJson<JsonStatus>(result)
    const registry = (body.conflicts ?? []).filter((c) => c.kind === 'registry_conflict')
    expect(registry.map((c) => c.port).sort()).toEqual([p(0), p(1)])
    const inFile = registry.find((c) => c.port === p(1)) as JsonConflict
    expect(inFile.allocations.map((a) => `${a.project}/${a.service}@${a.source}`).sort()).toEqual([
      `review-GH-42/web@${file}`,
      `review-GH-43/web@${file}`,
    ])
    // The file is only read: its second entry is to be edited there, not a registry row moved.
    expect(inFile.resolution).toBe(
      `edit ${file}: give allocations[1] (web of review-GH-43, port ${p(1)}) another port (\`portwarden find\` lists free ones), or drop that entry`,
    )
    const withRegistry = registry.find((c) => c.port === p(0)) as JsonConflict
    expect(withRegistry.allocations.map((a) => a.source).sort()).toEqual([file, 'registry'].sort())
    expect(body.summary).toMatchObject({ registry_conflict: 2, allocations: 6 })
    expect(body.summary?.allocation_mismatch).toBe(
      (body.conflicts ?? []).filter((c) => c.kind === 'allocation_mismatch').length,
    )
    const text = await runCliIn(ROOT, ['status', '--import', file, '--registry', path])
    expect(text.code).toBe(1)
    expect(text.stdout).toMatch(
      new RegExp(
        `REGISTRY CONFLICT: TCP port ${p(1)} is allocated 2 times: web of review-GH-42 \\(${file.replace(/[.]/g, '\\.')}\\), web of review-GH-43`,
      ),
    )
    expect(text.stdout).toMatch(
      /Summary: 2 registry conflicts, 0 system conflicts, \d+ allocation mismatch(es)? across 6 allocations\./,
    )
  })

  it('--import: a resolution acts on what the finding is about: the file entry to edit or drop, never a command on an unrelated registry row', async () => {
    const dir = tempDir()
    const path = join(dir, 'registry.db')
    const range = await freePortBlock(10, ZONE)
    // feature-search's real allocation, on another port than the one the file gives it
    const made = await runCliIn(makeWorktree('feature-search'), [
      'alloc',
      'web',
      '--range',
      `${range.from}-${range.from + 4}`,
      '--registry',
      path,
      '--json',
    ])
    expect(made.code, made.stderr).toBe(0)
    const real = parseJson<{ port: number; project: string }>(made)
    expect(real.project).toBe('feature-search')
    const duplicate = range.to
    const file = join(dir, 'dup.json')
    writeFileSync(
      file,
      JSON.stringify({
        allocations: [
          { port: duplicate, worktree: 'review-GH-42', service: 'web' },
          { port: duplicate, worktree: 'feature-search', service: 'web' },
        ],
      }),
    )
    const result = await runCliIn(ROOT, ['status', '--import', file, '--registry', path, '--json'])
    expect(result.code).toBe(1)
    const body = parseJson<JsonStatus>(result)
    const registry = body.conflicts?.filter((c) => c.kind === 'registry_conflict') ?? []
    expect(registry).toHaveLength(1)
    expect(registry[0]?.allocations).toEqual([
      expect.objectContaining({ project: 'review-GH-42', source: file, entry: 0 }),
      expect.objectContaining({ project: 'feature-search', source: file, entry: 1 }),
    ])
    expect(registry[0]?.resolution).toBe(
      `edit ${file}: give allocations[1] (web of feature-search, port ${duplicate}) another port (the registry has port ${real.port} for it), or drop that entry`,
    )
    // Nothing listens on the file's port: each entry's mismatch points at the file too.
    const mismatches = (body.conflicts ?? []).filter(
      (c) => c.kind === 'allocation_mismatch' && c.port === duplicate,
    )
    expect(mismatches.map((c) => c.resolution)).toEqual([
      `start web of review-GH-42, or, if it is gone for good, drop allocations[0] (web of review-GH-42, port ${duplicate}) from ${file}`,
      `start web of feature-search, or, if it is gone for good, drop allocations[1] (web of feature-search, port ${duplicate}) from ${file}`,
    ])
    // No finding about the file offers a command at all; the registry's own row keeps its own.
    for (const conflict of body.conflicts ?? []) {
      const aboutFile = conflict.allocations.every((a) => a.source === file)
      if (aboutFile) expect(conflict.resolution).not.toMatch(/portwarden (release|alloc|run)/)
    }
    const own = (body.conflicts ?? []).find((c) => c.port === real.port)
    expect(own?.resolution).toContain('portwarden release web --project feature-search')
    const text = await runCliIn(ROOT, ['status', '--import', file, '--registry', path])
    expect(text.stdout).toContain(
      `  resolve: edit ${file}: give allocations[1] (web of feature-search, port ${duplicate}) another port`,
    )
    expect(text.stdout).not.toMatch(/resolve: portwarden release web --project feature-search &&/)
    expect(sqliteRows(path).map((r) => `${r.project}/${r.service}=${r.port}`)).toEqual([
      `feature-search/web=${real.port}`,
    ])
  })

  const BAD_IMPORTS: [string, string | null][] = [
    ['missing file', null],
    ['not JSON', '{"allocations": [ {"port": 80'],
    ['no allocations array', '{"ports": []}'],
    ['allocations not an array', '{"allocations": {"port": 8080}}'],
    ['port 0', '{"allocations": [{"port": 0, "worktree": "a", "service": "web"}]}'],
    ['port as text', '{"allocations": [{"port": "8080", "worktree": "a", "service": "web"}]}'],
    ['port 65536', '{"allocations": [{"port": 65536, "worktree": "a", "service": "web"}]}'],
    ['no service', '{"allocations": [{"port": 8080, "worktree": "a"}]}'],
    ['no worktree', '{"allocations": [{"port": 8080, "service": "web"}]}'],
    [
      'bad protocol',
      '{"allocations": [{"port": 8080, "worktree": "a", "service": "web", "protocol": "sctp"}]}',
    ],
    [
      'bidi in a name',
      '{"allocations": [{"port": 8080, "worktree": "a\\u202e", "service": "web"}]}',
    ],
    ['a top-level array', '[{"port": 8080, "worktree": "a", "service": "web"}]'],
  ]

  it.each(BAD_IMPORTS)(
    'a bad import file (%s): exit 2 naming the file, no stack trace',
    async (_what, content) => {
      const dir = tempDir()
      const file = join(dir, 'import.json')
      if (content !== null) writeFileSync(file, content)
      for (const json of [true, false]) {
        const result = await runCliIn(ROOT, [
          'status',
          '--import',
          file,
          '--registry',
          join(dir, 'registry.db'),
          ...(json ? ['--json'] : []),
        ])
        expect(result.code, result.stdout + result.stderr).toBe(2)
        const message = json
          ? parseJson<{ error: string; message: string }>(result).message
          : result.stderr
        expect(message).toContain(file)
        expect(stackTraceLines(result.stderr)).toEqual([])
        if (json) expect(parseJson<{ error: string }>(result).error).toBe('invalid_request')
      }
    },
  )

  it('a directory as the import file: exit 2 naming it', async () => {
    const dir = tempDir()
    const result = await runCliIn(ROOT, [
      'status',
      '--import',
      dir,
      '--registry',
      join(dir, 'registry.db'),
    ])
    expect(result.code).toBe(2)
    expect(result.stderr).toContain(dir)
    expect(result.stderr).toMatch(/directory/)
  })
})

describe('holders that cannot be judged', () => {
  it('an allocation with no pid or worktree (another tool, the API before it took them), or an imported entry, held by a process: SYSTEM CONFLICT (unverified), with how to check', async () => {
    const dir = tempDir()
    const path = join(dir, 'registry.db')
    const range = await freePortBlock(10, ZONE)
    const [dbPort, importedPort] = [range.from, range.from + 1]
    // A row as other writers make it: nothing to tell the service's process by.
    const store = await openRegistry({ location: path })
    try {
      await store.write((tx) =>
        tx.insert({ project: 'review-GH-42', service: 'db', protocol: 'tcp', port: dbPort }),
      )
    } finally {
      await store.close()
    }
    const file = join(dir, 'outport.json')
    writeFileSync(
      file,
      JSON.stringify({
        allocations: [{ port: importedPort, worktree: 'review-GH-43', service: 'web' }],
      }),
    )
    const holder = await holdPorts({
      tcp: [
        { host: '127.0.0.1', port: dbPort },
        { host: '127.0.0.1', port: importedPort },
      ],
    })
    const args = ['status', '--check-conflicts', '--import', file, '--registry', path]
    const json = await runCliIn(ROOT, [...args, '--json'])
    expect(json.code).toBe(1)
    const body = parseJson<JsonStatus>(json)
    expect(body.conflicts?.map((c) => [c.kind, c.port, c.verified])).toEqual([
      ['system_conflict', dbPort, false],
      ['system_conflict', importedPort, false],
    ])
    const [db, imported] = body.conflicts ?? []
    expect(db?.message).toBe(
      `TCP port ${dbPort} is allocated to db of review-GH-42, but node (pid ${holder.pid}, user ${userInfo().username}) holds it on 127.0.0.1:${dbPort} since ${db?.message.match(/since (\S+);/)?.[1]}; ` +
        'unverified: the allocation records neither the pid of the service nor its worktree, so whether it is db cannot be told',
    )
    const adoption = `portwarden alloc db --project review-GH-42 --port ${dbPort} --pid ${holder.pid}`
    expect(db?.resolution).toMatch(
      new RegExp(
        `^check whether pid ${holder.pid} is db of review-GH-42; if it is: ${adoption}; if it is not: portwarden free ${dbPort}/tcp`,
      ),
    )
    expect(imported?.message).toContain(
      `web of review-GH-43 (${file}), but node (pid ${holder.pid}`,
    )
    expect(imported?.message).toContain(
      `unverified: ${file} records no pid or worktree path for it`,
    )
    expect(imported?.resolution).toBe(
      `check whether pid ${holder.pid} is web of review-GH-43; if it is not: portwarden free ${importedPort}/tcp   # or move the service: give allocations[0] (web of review-GH-43, port ${importedPort}) in ${file} another port`,
    )
    expect(body.summary).toEqual({
      registry_conflict: 0,
      system_conflict: 2,
      allocation_mismatch: 0,
      allocations: 2,
    })
    const text = await runCliIn(ROOT, args)
    expect(text.code).toBe(1)
    expect(text.stdout).toContain(
      `SYSTEM CONFLICT (unverified): TCP port ${dbPort} is allocated to db of review-GH-42, but node (pid ${holder.pid}`,
    )
    expect(text.stdout).toContain(
      `  resolve: check whether pid ${holder.pid} is db of review-GH-42;`,
    )
    expect(text.stdout).toMatch(
      /Summary: 0 registry conflicts, 2 system conflicts \(2 unverified\), 0 allocation mismatches across 2 allocations\./,
    )
    // The health check answers, and says it could not tell who answered.
    const health = await runCliIn(ROOT, ['status', '--health-check', '--registry', path, '--json'])
    expect(health.code).toBe(0)
    const [checked] = parseJson<JsonStatus>(health).allocations
    expect(checked?.health_status).toBe('healthy')
    expect(checked?.health_detail).toContain(
      `; held by node (pid ${holder.pid}, user ${userInfo().username}), not verified as db: the allocation records neither`,
    )

    // It is db: the adoption the resolution offers, as printed, settles it.
    const adopt = await runCliIn(ROOT, [...adoption.split(' ').slice(1), '--registry', path])
    expect(adopt.code, adopt.stderr).toBe(0)
    const after = parseJson<JsonStatus>(await runCliIn(ROOT, [...args, '--json']))
    expect(after.conflicts?.map((c) => c.port)).toEqual([importedPort])
    const rechecked = await runCliIn(ROOT, [
      'status',
      '--health-check',
      '--registry',
      path,
      '--json',
    ])
    expect(parseJson<JsonStatus>(rechecked).allocations[0]?.health_detail).not.toContain('verified')
  })
})

describe('health and the conflict report agree', () => {
  it('a port squatted by an outside process (python3 -m http.server) is unhealthy, "held by python3 (pid N), not by web", beside its SYSTEM CONFLICT', async () => {
    const worktree = makeWorktree('wt-squatted')
    const path = join(tempDir(), 'registry.db')
    const range = await freePortBlock(10, ZONE)
    const made = await runCliIn(worktree, [
      'alloc',
      'web',
      '--health',
      'http:/',
      '--range',
      `${range.from}-${range.to}`,
      '--registry',
      path,
      '--json',
    ])
    expect(made.code, made.stderr).toBe(0)
    const { port } = parseJson<{ port: number }>(made)
    // It answers HTTP 200 on /: only who holds the port tells it is not the service.
    const squatter = await startHttpServer(ROOT, port)
    for (const args of [['--health-check'], ['--health-check', '--check-conflicts']]) {
      const result = await runCliIn(ROOT, ['status', ...args, '--registry', path, '--json'])
      expect(result.code).toBe(1)
      const body = parseJson<JsonStatus>(result)
      expect(body.allocations[0], JSON.stringify(body.allocations)).toMatchObject({
        service: 'web',
        health_status: 'unhealthy',
      })
      expect(body.allocations[0]?.health_detail).toMatch(
        new RegExp(
          `^held by ${squatter.comm.replace(/[.]/g, '\\.')} \\(pid ${squatter.pid}\\b.*\\), not by web \\(not running in ${worktree.replace(/[.]/g, '\\.')}\\)$`,
        ),
      )
      if (args.includes('--check-conflicts'))
        expect(body.conflicts?.map((c) => [c.kind, c.port])).toEqual([['system_conflict', port]])
    }
    const text = await runCliIn(ROOT, ['status', '--registry', path])
    expect(text.stdout).toMatch(
      new RegExp(
        `web\\s+${port}/tcp\\s+UNHEALTHY\\s+.*held by ${squatter.comm.replace(/[.]/g, '\\.')} \\(pid ${squatter.pid}`,
      ),
    )
  })
})

const pgSkip = postgresBinaries() === null ? 'PostgreSQL binaries are not installed' : null
const redisSkip = redisBinary() === null ? 'redis-server is not installed' : null
if (pgSkip) console.warn(`[registry-conflicts] SKIPPING the PostgreSQL health check: ${pgSkip}`)
if (redisSkip) console.warn(`[registry-conflicts] SKIPPING the Redis health check: ${redisSkip}`)

describe('status --health-check', () => {
  let postgres: RunningPostgres | null = null
  let redis: RunningRedis | null = null
  beforeAll(async () => {
    ;[postgres, redis] = await Promise.all([
      pgSkip ? null : startPostgres(),
      redisSkip ? null : startRedis(),
    ])
  }, 60_000)
  afterAll(async () => {
    await Promise.all([postgres?.stop(), redis?.stop()])
  }, 30_000)

  it(`not_running, HTTP 200 healthy, HTTP 503 unhealthy, postgres${pgSkip ? ` [SKIPPED: ${pgSkip}]` : ''} and redis${redisSkip ? ` [SKIPPED: ${redisSkip}]` : ''} healthy; stored with last_checked_at`, async () => {
    const worktree = makeWorktree('wt-health')
    const path = join(tempDir(), 'registry.db')
    const range = await freePortBlock(10, ZONE)
    const r = ['--range', `${range.from}-${range.to}`, '--registry', path]
    const alloc = async (args: string[]) => {
      const result = await runCliIn(worktree, ['alloc', ...args, ...r, '--json'])
      expect(result.code, result.stdout + result.stderr).toBe(0)
      return parseJson<{ port: number }>(result).port
    }
    const okPort = await alloc(['web', '--health', 'http:/healthz', '--expect', '200'])
    const sickPort = await alloc(['admin', '--health', 'http:/healthz', '--expect', '200'])
    await alloc(['gone', '--health', 'tcp'])
    await holdPorts(
      { tcp: [{ host: '127.0.0.1', port: okPort }], http: { status: 200, path: '/healthz' } },
      { cwd: worktree },
    )
    await holdPorts(
      { tcp: [{ host: '127.0.0.1', port: sickPort }], http: { status: 503, path: '/healthz' } },
      { cwd: worktree },
    )

    const expected: Record<string, string> = {
      web: 'healthy',
      admin: 'unhealthy',
      gone: 'not_running',
    }
    // A running server's port cannot be taken with `alloc --port` (port_in_use, by design), so the
    // real PostgreSQL and Redis servers are recorded through the library's store.
    if (postgres) {
      const refused = await runCliIn(worktree, [
        'alloc',
        'db',
        '--port',
        String(postgres.port),
        '--health',
        'postgres',
        '--registry',
        path,
        '--json',
      ])
      expect(refused.code).toBe(1)
      expect(parseJson<{ error: string }>(refused).error).toBe('port_in_use')
    }
    const store = await openRegistry({ location: path })
    try {
      if (postgres) {
        await store.write((tx) =>
          tx.insert({
            project: 'wt-health',
            service: 'db',
            protocol: 'tcp',
            port: postgres!.port,
            healthCheck: { kind: 'postgres' },
          }),
        )
        expected.db = 'healthy'
      }
      if (redis) {
        await store.write((tx) =>
          tx.insert({
            project: 'wt-health',
            service: 'cache',
            protocol: 'tcp',
            port: redis!.port,
            healthCheck: { kind: 'redis' },
          }),
        )
        expected.cache = 'healthy'
      }
    } finally {
      await store.close()
    }

    const before = parseJson<JsonStatus>(
      await runCliIn(ROOT, ['status', '--registry', path, '--json']),
    )
    for (const a of before.allocations)
      expect(a).toMatchObject({ health_status: 'unknown', last_checked_at: null })

    const checked = await runCliIn(
      ROOT,
      ['status', '--health-check', '--registry', path, '--json'],
      { timeoutMs: 60_000 },
    )
    expect(checked.code).toBe(1) // admin is unhealthy, gone is not running
    const live = parseJson<JsonStatus>(checked)
    const statusOf = (body: JsonStatus) =>
      Object.fromEntries(body.allocations.map((a) => [a.service, a.health_status]))
    expect(
      statusOf(live),
      JSON.stringify(live.allocations.map((a) => [a.service, a.health_detail])),
    ).toEqual(expected)
    expect(live.allocations.find((a) => a.service === 'admin')?.health_detail).toMatch(/503/)

    // stored: a plain `status --json` reads the same statuses back, with last_checked_at
    const stored = parseJson<JsonStatus>(
      await runCliIn(ROOT, ['status', '--registry', path, '--json']),
    )
    expect(statusOf(stored)).toEqual(expected)
    for (const a of stored.allocations)
      expect(a.last_checked_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
    const text = await runCliIn(ROOT, ['status', '--registry', path])
    expect(text.stdout).toMatch(/web\s+\d+\/tcp\s+healthy/)
    expect(text.stdout).toMatch(/admin\s+\d+\/tcp\s+UNHEALTHY/)
    expect(text.stdout).toMatch(/gone\s+\d+\/tcp\s+not running/)

    // one project only, and exit 0 when everything checked is healthy
    const onlyWeb = await runCliIn(worktree, [
      'status',
      '--health-check',
      '--project',
      'wt-health',
      '--registry',
      path,
      '--json',
    ])
    expect(onlyWeb.code).toBe(1)
    const healthyOnly = join(tempDir(), 'healthy.db')
    expect(
      (
        await runCliIn(worktree, [
          'alloc',
          'web',
          '--port',
          String(range.to),
          '--health',
          'tcp',
          '--registry',
          healthyOnly,
        ])
      ).code,
    ).toBe(0)
    await holdPorts({ tcp: [{ host: '127.0.0.1', port: range.to }] }, { cwd: worktree })
    const allGood = await runCliIn(ROOT, [
      'status',
      '--health-check',
      '--registry',
      healthyOnly,
      '--json',
    ])
    expect(allGood.code, allGood.stdout).toBe(0)
    expect(statusOf(parseJson<JsonStatus>(allGood))).toEqual({ web: 'healthy' })
  }, 90_000)
})
