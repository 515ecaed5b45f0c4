/**
 * The registry commands end to end (the built CLI, `dist/bin/portwarden.cjs`): `alloc`,
 * `release`, `find`, `status`, their exit codes (0 ok, 1 "no", 2 bad input, 3 environment) and
 * that bad input changes nothing (the registry file's sha256, the directory listing).
 */
import { mkdirSync, existsSync } from 'node:fs'
import { basename, join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { parseJson, stackTraceLines } from './helpers/cli.js'
import { ROOT } from './helpers/processes.js'
import {
  PORT_ZONES,
  freePortBlock,
  holdPorts,
  killChildren,
  releasePortBlocks,
  removeTempDirs,
  runCliIn,
  sha256File,
  snapshotDir,
  sqliteRows,
  tempDir,
} from './helpers/registry.js'

const ZONE = PORT_ZONES.cli

interface JsonAllocation {
  id: number
  project: string
  service: string
  protocol: string
  port: number
  created_at: string
  health_status: string
  last_checked_at: string | null
  created?: boolean
}
interface JsonError {
  error: string
  message: string
}

afterEach(async () => {
  await killChildren()
  releasePortBlocks()
})
afterAll(removeTempDirs)

const HIDDEN =
  // eslint-disable-next-line no-control-regex
  /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/
const cli = (args: string[], cwd = ROOT) => runCliIn(cwd, args)

describe('alloc', () => {
  it('prints the port alone (PORT=$(portwarden alloc web)); --json has the spec shape; idempotent', async () => {
    const path = join(tempDir(), 'registry.db')
    const range = await freePortBlock(50, ZONE)
    const r = ['--range', `${range.from}-${range.to}`, '--registry', path]
    const text = await cli(['alloc', 'web', '--project', 'shop', ...r])
    expect(text.code).toBe(0)
    expect(text.stdout).toMatch(/^\d+\n$/)
    const port = Number(text.stdout)
    expect(port).toBeGreaterThanOrEqual(range.from)
    expect(port).toBeLessThanOrEqual(range.to)
    expect(text.stderr).toContain(`allocated TCP port ${port} to web of project shop`)
    const json = await cli(['alloc', 'web', '--project', 'shop', ...r, '--json'])
    expect(json.code).toBe(0)
    const body = parseJson<JsonAllocation>(json)
    expect(body).toMatchObject({
      project: 'shop',
      service: 'web',
      protocol: 'tcp',
      port,
      health_status: 'unknown',
      last_checked_at: null,
      created: false,
    })
    expect(body.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
    expect(Object.keys(body)).toEqual(
      expect.arrayContaining([
        'id',
        'project',
        'service',
        'protocol',
        'port',
        'created_at',
        'health_status',
        'last_checked_at',
      ]),
    )
    // PORTWARDEN_REGISTRY is the same registry
    const viaEnv = await runCliIn(
      ROOT,
      ['alloc', 'web', '--project', 'shop', '--range', `${range.from}-${range.to}`],
      {
        env: { ...process.env, PORTWARDEN_REGISTRY: path },
      },
    )
    expect(viaEnv.code).toBe(0)
    expect(sqliteRows(path)).toHaveLength(1)
  })

  it('project defaults to the git worktree name (the folder holding .git), also from a subdirectory', async () => {
    const worktree = join(tempDir(), 'review-GH-42')
    mkdirSync(join(worktree, '.git'), { recursive: true })
    mkdirSync(join(worktree, 'src', 'deep'), { recursive: true })
    const path = join(tempDir(), 'registry.db')
    const range = await freePortBlock(50, ZONE)
    const top = await cli(
      ['alloc', 'web', '--range', `${range.from}-${range.to}`, '--registry', path, '--json'],
      worktree,
    )
    const deep = await cli(
      ['alloc', 'web', '--range', `${range.from}-${range.to}`, '--registry', path, '--json'],
      join(worktree, 'src', 'deep'),
    )
    expect(parseJson<JsonAllocation>(top)).toMatchObject({ project: 'review-GH-42', created: true })
    expect(parseJson<JsonAllocation>(deep)).toMatchObject({
      project: 'review-GH-42',
      created: false,
      port: parseJson<JsonAllocation>(top).port,
    })
    expect(basename(worktree)).toBe('review-GH-42')
  })

  it('--udp is independent of TCP; --port exact; port_allocated (exit 1) when another service has it', async () => {
    const path = join(tempDir(), 'registry.db')
    const range = await freePortBlock(10, ZONE)
    const port = String(range.from + 2)
    expect(
      (
        await cli(['alloc', 'web', '--project', 'a', '--port', port, '--registry', path])
      ).stdout.trim(),
    ).toBe(port)
    expect(
      (
        await cli(['alloc', 'dns', '--project', 'a', '--port', port, '--udp', '--registry', path])
      ).stdout.trim(),
    ).toBe(port)
    const taken = await cli([
      'alloc',
      'web',
      '--project',
      'b',
      '--port',
      port,
      '--registry',
      path,
      '--json',
    ])
    expect(taken.code).toBe(1)
    expect(parseJson<JsonError>(taken)).toMatchObject({ error: 'port_allocated' })
    expect(parseJson<JsonError>(taken).message).toContain('web of project a')
    expect(sqliteRows(path)).toEqual([
      { project: 'a', service: 'web', protocol: 'tcp', port: Number(port) },
      { project: 'a', service: 'dns', protocol: 'udp', port: Number(port) },
    ])
  })

  it('--port held by a real process: exit 1, port_in_use naming the process and its pid', async () => {
    const path = join(tempDir(), 'registry.db')
    const range = await freePortBlock(4, ZONE)
    const holder = await holdPorts({ tcp: [{ host: '127.0.0.1', port: range.from }] })
    const text = await cli([
      'alloc',
      'web',
      '--project',
      'p',
      '--port',
      String(range.from),
      '--registry',
      path,
    ])
    expect(text.code).toBe(1)
    expect(text.stderr).toMatch(
      new RegExp(`TCP port ${range.from} is already in use by node \\(pid ${holder.pid}`),
    )
    expect(text.stderr).toContain(`portwarden free ${range.from}/tcp`)
    const json = await cli([
      'alloc',
      'web',
      '--project',
      'p',
      '--port',
      String(range.from),
      '--registry',
      path,
      '--json',
    ])
    expect(json.code).toBe(1)
    expect(parseJson<JsonError>(json).error).toBe('port_in_use')
    expect(parseJson<JsonError>(json).message).toContain(`pid ${holder.pid}`)
    expect(sqliteRows(path)).toEqual([])
  })

  it('--pid adopts an already-running service: recorded on its allocation (the conflict goes), and a port it holds is allocatable to it alone', async () => {
    const worktree = join(tempDir(), 'shop')
    mkdirSync(join(worktree, '.git'), { recursive: true })
    const path = join(tempDir(), 'registry.db')
    const range = await freePortBlock(10, ZONE)
    const r = ['--range', `${range.from}-${range.to}`, '--registry', path]
    const made = await cli(['alloc', 'cache', ...r, '--json'], worktree)
    expect(made.code, made.stderr).toBe(0)
    const { port } = parseJson<JsonAllocation>(made)
    // The service runs, started from elsewhere (the repository): a SYSTEM CONFLICT offering adoption.
    const service = await holdPorts({ tcp: [{ host: '127.0.0.1', port }] })
    const conflicts = () =>
      cli(['status', '--check-conflicts', '--registry', path, '--json']).then((result) => ({
        code: result.code,
        conflicts: parseJson<{ conflicts: { kind: string; resolution: string }[] }>(result)
          .conflicts,
      }))
    const before = await conflicts()
    expect(before.code).toBe(1)
    expect(before.conflicts[0]?.kind).toBe('system_conflict')
    const adoption = `portwarden alloc cache --project shop --port ${port} --pid ${service.pid}`
    expect(before.conflicts[0]?.resolution).toContain(
      `if pid ${service.pid} is cache after all: ${adoption}`,
    )

    // `alloc cache --pid N` on the existing allocation records the pid (it was dropped).
    const recorded = await cli(['alloc', 'cache', '--pid', String(service.pid), ...r], worktree)
    expect(recorded.code, recorded.stderr).toBe(0)
    expect(recorded.stdout).toBe(`${port}\n`)
    expect(recorded.stderr).toContain(
      `recorded pid ${service.pid} as the process of cache of project shop (TCP port ${port})`,
    )
    const json = await cli(
      ['alloc', 'cache', '--pid', String(service.pid), ...r, '--json'],
      worktree,
    )
    expect(parseJson<JsonAllocation & { pid: number }>(json)).toMatchObject({
      port,
      pid: service.pid,
      created: false,
    })
    expect(await conflicts()).toEqual({ code: 0, conflicts: [] })

    // `alloc SERVICE --port P --pid N`, P held by N: allocated to it (it was refused as in use).
    const other = range.from === port ? range.to : range.from
    const running = await holdPorts({ tcp: [{ host: '127.0.0.1', port: other }] })
    const refused = await cli(
      ['alloc', 'queue', '--port', String(other), '--pid', String(service.pid), '--registry', path],
      worktree,
    )
    expect(refused.code).toBe(1)
    expect(refused.stderr).toContain(`already in use by node (pid ${running.pid}`)
    expect(refused.stderr).toContain(
      `It is not held by pid ${service.pid} or a child of it alone, so --pid cannot adopt it.`,
    )
    const adopted = await cli(
      ['alloc', 'queue', '--port', String(other), '--pid', String(running.pid), '--registry', path],
      worktree,
    )
    expect(adopted.code, adopted.stderr).toBe(0)
    expect(adopted.stdout).toBe(`${other}\n`)
    expect(adopted.stderr).toContain(
      `allocated TCP port ${other}, which pid ${running.pid} already holds, to queue of project shop`,
    )
    expect(await conflicts()).toEqual({ code: 0, conflicts: [] })
  })

  it('range exhausted: exit 1, range_exhausted, the range in the message, nothing added', async () => {
    const path = join(tempDir(), 'registry.db')
    const range = await freePortBlock(3, ZONE)
    const r = `${range.from}-${range.to}`
    for (const service of ['a', 'b', 'c'])
      expect(
        (await cli(['alloc', service, '--project', 'p', '--range', r, '--registry', path])).code,
      ).toBe(0)
    const before = sha256File(path)
    const text = await cli(['alloc', 'd', '--project', 'p', '--range', r, '--registry', path])
    expect(text.code).toBe(1)
    expect(text.stderr).toContain(r)
    expect(text.stdout).toBe('')
    const json = await cli([
      'alloc',
      'd',
      '--project',
      'p',
      '--range',
      r,
      '--registry',
      path,
      '--json',
    ])
    expect(json.code).toBe(1)
    expect(parseJson<JsonError>(json)).toMatchObject({ error: 'range_exhausted' })
    expect(parseJson<JsonError>(json).message).toContain(r)
    expect(sha256File(path)).toBe(before)
  })

  const BAD: [string, string[]][] = [
    ['empty service', ['alloc', '', '--project', 'p']],
    ['empty project', ['alloc', 'web', '--project', '']],
    ['500-character service', ['alloc', 'x'.repeat(500), '--project', 'p']],
    ['500-character project', ['alloc', 'web', '--project', 'p'.repeat(500)]],
    ['control character (BEL)', ['alloc', 'a\u0007b', '--project', 'p']],
    ['escape sequence', ['alloc', '\u001b[31mred', '--project', 'p']],
    ['newline in project', ['alloc', 'web', '--project', 'a\nb']],
    ['bidi override', ['alloc', 'evil\u202Etxt.exe', '--project', 'p']],
    ['bidi isolate in project', ['alloc', 'web', '--project', 'p\u2066x']],
    ['zero-width space', ['alloc', 'we\u200Bb', '--project', 'p']],
    ['port 0', ['alloc', 'web', '--project', 'p', '--port', '0']],
    ['port 65536', ['alloc', 'web', '--project', 'p', '--port', '65536']],
    ['port -1', ['alloc', 'web', '--project', 'p', '--port=-1']],
    ['port 0x1F90', ['alloc', 'web', '--project', 'p', '--port', '0x1F90']],
    ['port 8e3', ['alloc', 'web', '--project', 'p', '--port', '8e3']],
    ['port abc', ['alloc', 'web', '--project', 'p', '--port', 'abc']],
    ['port range', ['alloc', 'web', '--project', 'p', '--port', '8000-8010']],
    ['range abc', ['alloc', 'web', '--project', 'p', '--range', 'abc']],
    ['inverted range', ['alloc', 'web', '--project', 'p', '--range', '30010-30000']],
    ['range from 0', ['alloc', 'web', '--project', 'p', '--range', '0-100']],
    ['range to 70000', ['alloc', 'web', '--project', 'p', '--range', '60000-70000']],
    ['range with protocol', ['alloc', 'web', '--project', 'p', '--range', '20000-20010/udp']],
    ['bad --health', ['alloc', 'web', '--project', 'p', '--health', 'gopher']],
    ['bad --expect', ['alloc', 'web', '--project', 'p', '--health', 'http:/', '--expect', '999']],
    ['bad --pid', ['alloc', 'web', '--project', 'p', '--pid', '-3']],
    ['unknown flag', ['alloc', 'web', '--project', 'p', '--frobnicate']],
    ['release: empty service', ['release', '', '--project', 'p']],
    ['release: control character', ['release', 'a\u0007', '--project', 'p']],
    ['release: port 0', ['release', '--port', '0']],
    ['release: service and --port', ['release', 'web', '--port', '8080']],
    ['find: range abc', ['find', '--range', 'abc']],
    ['find: inverted range', ['find', '--range', '9-1']],
    ['find: count 0', ['find', '--count', '0']],
    ['find: count abc', ['find', '--count', 'abc']],
  ]

  describe('bad input', () => {
    // one seeded registry for every case: bad input must leave it byte for byte as it is
    let dir = ''
    let path = ''
    beforeAll(async () => {
      dir = tempDir()
      path = join(dir, 'registry.db')
      const range = await freePortBlock(10, ZONE)
      const seeded = await cli([
        'alloc',
        'keep',
        '--project',
        'p',
        '--range',
        `${range.from}-${range.to}`,
        '--registry',
        path,
      ])
      expect(seeded.code).toBe(0)
    })

    it.each(BAD)('%s: exit 2, invalid_request, the registry unchanged', async (_what, args) => {
      const before = snapshotDir(dir)
      const fresh = join(tempDir(), 'never.db')
      const [json, text, unborn] = await Promise.all([
        cli([...args, '--registry', path, '--json']),
        cli([...args, '--registry', path]),
        cli([...args, '--registry', fresh]),
      ])
      expect(json.code, json.stdout + json.stderr).toBe(2)
      const body = parseJson<JsonError & { hint?: string }>(json)
      expect(body.error).toBe('invalid_request')
      expect(body.message.length).toBeGreaterThan(10)
      // the message never echoes raw control, bidi or zero-width characters
      expect(body.message).not.toMatch(HIDDEN)
      expect(text.code).toBe(2)
      expect(text.stderr).not.toMatch(HIDDEN)
      expect(text.stdout).toBe('')
      expect(stackTraceLines(text.stderr)).toEqual([])
      expect(snapshotDir(dir)).toEqual(before)
      // and a registry that does not exist yet is not created by bad input
      expect(unborn.code).toBe(2)
      expect(existsSync(fresh)).toBe(false)
    })
  })
})

describe('release', () => {
  it('by service, by --port SPEC (tcp/udp), not_found (exit 1) when there is nothing', async () => {
    const path = join(tempDir(), 'registry.db')
    const range = await freePortBlock(10, ZONE)
    const r = ['--range', `${range.from}-${range.to}`, '--registry', path]
    const web = Number((await cli(['alloc', 'web', '--project', 'p', ...r])).stdout)
    const dns = Number((await cli(['alloc', 'dns', '--project', 'p', '--udp', ...r])).stdout)
    await cli(['alloc', 'api', '--project', 'p', ...r])
    const one = await cli(['release', 'web', '--project', 'p', '--registry', path, '--json'])
    expect(one.code).toBe(0)
    expect(parseJson<{ released: JsonAllocation[] }>(one).released).toMatchObject([
      { service: 'web', port: web },
    ])
    const byPort = await cli(['release', '--port', `${dns}/udp`, '--registry', path])
    expect(byPort.code).toBe(0)
    expect(byPort.stdout).toContain(`released UDP port ${dns}`)
    expect(sqliteRows(path).map((row) => row.service)).toEqual(['api'])
    const none = await cli(['release', 'web', '--project', 'p', '--registry', path, '--json'])
    expect(none.code).toBe(1)
    expect(parseJson<JsonError>(none).error).toBe('not_found')
  })
})

describe('find', () => {
  it('skips ports held by the system and by the registry; read-only (does not create a registry)', async () => {
    const dir = tempDir()
    const path = join(dir, 'registry.db')
    const range = await freePortBlock(8, ZONE)
    const r = `${range.from}-${range.to}`
    const untouched = await cli([
      'find',
      '--range',
      r,
      '--count',
      '3',
      '--registry',
      path,
      '--json',
    ])
    expect(untouched.code).toBe(0)
    expect(parseJson<{ ports: number[] }>(untouched).ports).toEqual([
      range.from,
      range.from + 1,
      range.from + 2,
    ])
    expect(existsSync(path)).toBe(false)
    const holder = await holdPorts({
      tcp: [
        { host: '127.0.0.1', port: range.from },
        { host: '::1', port: range.from + 2 },
      ],
    })
    expect(
      (
        await cli([
          'alloc',
          'web',
          '--project',
          'p',
          '--port',
          String(range.from + 1),
          '--registry',
          path,
        ])
      ).code,
    ).toBe(0)
    const found = await cli(['find', '--range', r, '--count', '3', '--registry', path])
    expect(found.code).toBe(0)
    expect(found.stdout.trim().split('\n').map(Number)).toEqual([
      range.from + 3,
      range.from + 4,
      range.from + 5,
    ])
    const tooMany = await cli(['find', '--range', r, '--count', '6', '--registry', path, '--json'])
    expect(tooMany.code).toBe(1)
    expect(parseJson<JsonError>(tooMany).error).toBe('range_exhausted')
    expect(parseJson<JsonError>(tooMany).message).toContain(r)
    const udp = await cli(['find', '--range', r, '--count', '1', '--udp', '--registry', path])
    expect(udp.stdout.trim()).toBe(String(range.from))
    await holder.stop()
  })
})

describe('status', () => {
  it('lists allocations (text table and --json with the spec fields), filtered by --project', async () => {
    const path = join(tempDir(), 'registry.db')
    const range = await freePortBlock(10, ZONE)
    const r = ['--range', `${range.from}-${range.to}`, '--registry', path]
    await cli(['alloc', 'web', '--project', 'shop', ...r])
    await cli(['alloc', 'db', '--project', 'shop', ...r])
    await cli(['alloc', 'web', '--project', 'blog', ...r])
    const json = await cli(['status', '--registry', path, '--json'])
    expect(json.code).toBe(0)
    const body = parseJson<{ registry: string; allocations: JsonAllocation[] }>(json)
    expect(body.registry).toBe(path)
    expect(body.allocations.map((a) => `${a.project}/${a.service}`).sort()).toEqual([
      'blog/web',
      'shop/db',
      'shop/web',
    ])
    for (const a of body.allocations)
      expect(a).toMatchObject({ health_status: 'unknown', last_checked_at: null, protocol: 'tcp' })
    const shop = parseJson<{ allocations: JsonAllocation[] }>(
      await cli(['status', '--project', 'shop', '--registry', path, '--json']),
    )
    expect(shop.allocations.map((a) => a.service).sort()).toEqual(['db', 'web'])
    const text = await cli(['status', '--registry', path])
    expect(text.code).toBe(0)
    expect(text.stdout).toMatch(/PROJECT\s+SERVICE\s+PORT\s+HEALTH/)
    expect(text.stdout).toMatch(/shop\s+web\s+\d+\/tcp\s+unknown/)
  })
})
