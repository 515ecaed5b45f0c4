/**
 * SQLite durability: R4 (kill -9 while allocating), R5 (kill -9 while migrating v1 -> v2), R6 (a
 * lock held past the timeout), R7 (corrupt / foreign / future files are refused and left byte for
 * byte as they were), R8 (EACCES, run as nobody) and R9 (WAL growth with a reader holding a
 * snapshot). Every writer that is killed is a real process (test/fixtures/registry-worker.mjs).
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process'
import { spawn, spawnSync } from 'node:child_process'
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  statSync,
  truncateSync,
  writeSync,
  closeSync,
  writeFileSync,
} from 'node:fs'
import { join } from 'node:path'
import Sqlite from 'better-sqlite3'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { allocate, openRegistry } from '../src/core/index.js'
import {
  SQLITE_MIGRATIONS,
  SQLITE_SCHEMA_VERSION,
  openSqliteStore,
} from '../src/core/registry/sqlite-store.js'
import { CLI, NOBODY, parseJson, stackTraceLines, whyNobodyCannotRun } from './helpers/cli.js'
import { ROOT, commandExists } from './helpers/processes.js'
import {
  PORT_ZONES,
  WORKER,
  freePortBlock,
  killChildren,
  releasePortBlocks,
  removeTempDirs,
  runCliIn,
  sha256File,
  snapshotDir,
  spawnNode,
  sqliteIntegrity,
  sqliteRows,
  tempDir,
} from './helpers/registry.js'

const ZONE = PORT_ZONES.durability
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const random = (from: number, to: number) => from + Math.floor(Math.random() * (to - from + 1))

afterEach(async () => {
  await killChildren()
  releasePortBlocks()
})
afterAll(removeTempDirs)

function columnsOf(path: string): string[] {
  const db = new Sqlite(path, { fileMustExist: true })
  try {
    return (
      db.prepare('SELECT name FROM pragma_table_info(?)').pluck().all('allocations') as string[]
    ).sort()
  } finally {
    db.close()
  }
}

function userVersion(path: string): number {
  const db = new Sqlite(path, { fileMustExist: true })
  try {
    return db.pragma('user_version', { simple: true }) as number
  } finally {
    db.close()
  }
}

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL')
  } catch {
    // already gone
  }
}

describe('R4: kill -9 during allocation', () => {
  it('writers SIGKILLed at random 50-400 ms, 15 rounds: intact, no dups, every acknowledged allocation present, next open < 1 s', async () => {
    const dir = tempDir()
    const path = join(dir, 'registry.db')
    const range = await freePortBlock(1000, ZONE)
    const opens: number[] = []
    let kills = 0
    let acked = 0
    for (let round = 0; round < 15; round++) {
      // three writers in a loop; each killed at a random moment after it opened the registry
      const writers = [0, 1, 2].map((w) =>
        spawnNode([
          WORKER,
          JSON.stringify({
            op: 'loop',
            location: path,
            project: `r${round}`,
            prefix: `w${w}`,
            range,
          }),
        ]),
      )
      await Promise.all(
        writers.map(async (writer) => {
          await writer.waitFor(/^READY /, 30_000)
          await sleep(random(50, 400))
          killGroup(writer.pid)
          kills++
        }),
      )
      await Promise.all(writers.map((w) => w.exited))

      const errors = writers
        .flatMap((w) => w.tagged<{ code: string; message: string }>('ERR'))
        .filter((e) => e.code !== 'range_exhausted')
      expect(errors, `round ${round}`).toEqual([])
      expect(sqliteIntegrity(path), `round ${round}`).toBe('ok')
      const rows = sqliteRows(path)
      const keys = new Set(rows.map((r) => `${r.project}/${r.service}=${r.port}/${r.protocol}`))
      const ports = rows.map((r) => `${r.port}/${r.protocol}`)
      expect(new Set(ports).size, `round ${round}: duplicate ports`).toBe(ports.length)
      writers.forEach((writer) => {
        const acks = writer.tagged<{ op: string; service: string; port?: number }>('ACK')
        const released = new Set(acks.filter((a) => a.op === 'release').map((a) => a.service))
        for (const ack of acks.filter((a) => a.op === 'alloc')) {
          acked++
          if (released.has(ack.service))
            expect(
              keys.has(`r${round}/${ack.service}=${ack.port}/tcp`),
              `released ${ack.service}`,
            ).toBe(false)
          else if (Number(ack.service.split('-').pop()) % 3 !== 2)
            // (every third service is released next: a kill between that release's commit and
            // its ACK line leaves the row rightly gone, so only the others must be present)
            expect(
              keys.has(`r${round}/${ack.service}=${ack.port}/tcp`),
              `round ${round}: acknowledged ${ack.service}=${ack.port} missing`,
            ).toBe(true)
        }
      })
      // the next open (and a read, and a write) is quick
      const started = performance.now()
      const store = await openRegistry({ location: path })
      await store.list()
      opens.push(performance.now() - started)
      await allocate(store, { project: `r${round}`, service: 'after-crash', range })
      await store.remove({}) // each round starts empty, so the range never runs out
      await store.close()
    }
    console.log(
      `[R4] 15 rounds, ${kills} kills, ${acked} acknowledged allocations checked; next open max ${Math.round(Math.max(...opens))} ms`,
    )
    expect(Math.max(...opens)).toBeLessThan(1000)
  }, 180_000)

  it('kill -9 while the registry file is being created: never a half-made registry at the path', async () => {
    const dir = tempDir()
    const outcomes: string[] = []
    for (let round = 0; round < 10; round++) {
      const path = join(dir, `new-${round}.db`)
      const writer = spawnNode([WORKER, JSON.stringify({ op: 'open', location: path })])
      await writer.waitFor(/^START /, 30_000)
      await sleep(random(0, 30))
      killGroup(writer.pid)
      await writer.exited
      if (existsSync(path)) {
        expect(userVersion(path)).toBe(SQLITE_SCHEMA_VERSION)
        expect(sqliteIntegrity(path)).toBe('ok')
        outcomes.push('made')
      } else {
        outcomes.push('absent')
      }
      const store = await openRegistry({ location: path })
      expect(await store.list()).toEqual([])
      await store.close()
    }
    const litter = readdirSync(dir).filter((name) => name.includes('.init-'))
    console.log(
      `[R4 create] outcomes ${outcomes.join(',')}; stray temporary files left by killed creators: ${litter.length}`,
    )
  }, 120_000)
})

describe('R5: kill -9 during migration v1 -> v2', () => {
  const V1 = [
    'created_at',
    'health_status',
    'host',
    'id',
    'last_checked_at',
    'port',
    'project',
    'protocol',
    'service',
  ].sort()
  const V2 = [...V1, 'health_check', 'health_detail', 'pid', 'worktree'].sort()

  it('>= 12 rounds killed at random points: user_version 1 with v1 columns or 2 with v2 columns, never mixed; quick_check ok; rows preserved', async () => {
    expect(SQLITE_MIGRATIONS).toHaveLength(2)
    const dir = tempDir()
    const template = join(dir, 'template-v1.db')
    const v1 = await openSqliteStore(template, { targetVersion: 1 })
    await v1.close()
    const ROWS = 30_000 // enough that the backup and the migration take measurable time
    {
      const db = new Sqlite(template)
      const insert = db.prepare(
        "INSERT INTO allocations (host, project, service, protocol, port, created_at) VALUES ('local', ?, ?, 'tcp', ?, '2026-01-01T00:00:00Z')",
      )
      db.transaction(() => {
        for (let i = 0; i < ROWS; i++) insert.run(`p${i % 100}`, `s${i}`, 1 + (i % 65535))
      })()
      db.pragma('wal_checkpoint(TRUNCATE)')
      db.close()
    }
    expect(userVersion(template)).toBe(1)
    const original = sqliteRows(template)

    const migrateOnce = (path: string) =>
      spawnNode([WORKER, JSON.stringify({ op: 'open', location: path })])
    // calibrate: how long does an uninterrupted open + migration take here, now?
    const calibration = join(dir, 'calibration.db')
    copyFileSync(template, calibration)
    const timed = migrateOnce(calibration)
    await timed.waitFor(/^START /)
    const t0 = performance.now()
    await timed.waitFor(/^OPENED /, 60_000)
    const window = performance.now() - t0
    expect(userVersion(calibration)).toBe(2)

    const outcomes: number[] = []
    for (let round = 0; round < 12; round++) {
      const path = join(dir, `round-${round}.db`)
      copyFileSync(template, path)
      const proc = migrateOnce(path)
      await proc.waitFor(/^START /)
      await sleep(Math.random() * window * 1.1)
      killGroup(proc.pid)
      await proc.exited

      const version = userVersion(path)
      outcomes.push(version)
      expect([1, 2]).toContain(version)
      expect(columnsOf(path)).toEqual(version === 1 ? V1 : V2)
      expect(sqliteIntegrity(path, 'quick_check')).toBe('ok')
      expect(sqliteRows(path)).toEqual(original)
      // and the next open finishes the job
      const store = await openRegistry({ location: path })
      expect((await store.list()).length).toBe(ROWS)
      await store.close()
      expect(userVersion(path)).toBe(2)
      expect(columnsOf(path)).toEqual(V2)
    }
    const backups = readdirSync(dir).filter((name) => name.endsWith('.bak'))
    const unusable = backups.filter((name) => {
      try {
        return sqliteRows(join(dir, name)).length !== ROWS || userVersion(join(dir, name)) !== 1
      } catch {
        return true
      }
    })
    const partial = readdirSync(dir).filter((name) => name.endsWith('.bak.partial'))
    expect(
      unusable,
      'a .bak file is always a complete v1 backup (a killed backup stays .partial)',
    ).toEqual([])
    console.log(
      `[R5] migration window ${Math.round(window)} ms; after the kill: ${outcomes.filter((v) => v === 1).length} rounds at v1, ` +
        `${outcomes.filter((v) => v === 2).length} at v2; backups (.bak) left beside the files: ${backups.length}, of which incomplete or unreadable: ${unusable.length}; killed mid-backup (.bak.partial): ${partial.length}`,
    )
  }, 180_000)
})

/** `sqlite3 FILE` holding BEGIN IMMEDIATE until it is told to stop. */
async function holdWriteLock(path: string): Promise<{ release(): Promise<void> }> {
  const child: ChildProcessWithoutNullStreams = spawn('sqlite3', [path], {
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk))
  const closed = new Promise((resolve) => child.once('close', resolve))
  child.stdin.write("BEGIN IMMEDIATE;\nSELECT 'LOCKED';\n")
  for (let i = 0; i < 200 && !out.includes('LOCKED'); i++) await sleep(25)
  if (!out.includes('LOCKED')) throw new Error('sqlite3 did not take the write lock')
  return {
    async release() {
      child.stdin.end('ROLLBACK;\n.quit\n')
      await closed
    },
  }
}

describe.skipIf(!commandExists('sqlite3'))(
  `R6: a write lock held past the timeout${commandExists('sqlite3') ? '' : ' [SKIPPED: no sqlite3 CLI]'}`,
  () => {
    it('library, timeoutMs 500: registry_locked within timeout + 1 s, no partial row, reads still work', async () => {
      const dir = tempDir()
      const path = join(dir, 'registry.db')
      const range = await freePortBlock(20, ZONE)
      const setup = await openRegistry({ location: path })
      await allocate(setup, { project: 'p', service: 'before', range })
      await setup.close()
      const lock = await holdWriteLock(path) // held for timeout + 2 s
      const releaseAt = sleep(2500).then(() => lock.release())
      const store = await openRegistry({ location: path, timeoutMs: 500 })
      const started = performance.now()
      const failure = await allocate(store, { project: 'p', service: 'during', range }).then(
        () => null,
        (error: { code: string; message: string }) => error,
      )
      const took = performance.now() - started
      expect(failure?.code).toBe('registry_locked')
      expect(failure?.message).toMatch(/locked/)
      expect(failure?.message).toContain(path)
      expect(took).toBeGreaterThanOrEqual(450)
      expect(took).toBeLessThan(1500)
      expect((await store.list()).map((a) => a.service)).toEqual(['before']) // readers are not blocked
      await releaseAt
      expect(sqliteRows(path).map((r) => r.service)).toEqual(['before'])
      // once released, the same store writes again
      expect((await allocate(store, { project: 'p', service: 'after', range })).created).toBe(true)
      await store.close()
      console.log(`[R6 library] registry_locked after ${Math.round(took)} ms with timeoutMs 500`)
    }, 30_000)

    it('CLI (PORTWARDEN_REGISTRY_TIMEOUT 2 s): `alloc` exits 3 saying "locked" within timeout + 1 s; no row; no hang', async () => {
      const dir = tempDir()
      const path = join(dir, 'registry.db')
      const range = await freePortBlock(20, ZONE)
      expect(
        (
          await runCliIn(ROOT, [
            'alloc',
            'before',
            '--project',
            'p',
            '--range',
            `${range.from}-${range.to}`,
            '--registry',
            path,
          ])
        ).code,
      ).toBe(0)
      // What an unlocked `alloc` costs under the current load (start-up, modules, the work), so
      // the bound below measures the lock wait, not the machine.
      const baseline = await runCliIn(ROOT, [
        'alloc',
        'baseline',
        '--project',
        'p',
        '--range',
        `${range.from}-${range.to}`,
        '--registry',
        join(tempDir(), 'registry.db'),
      ])
      const before = sha256File(path)
      const lock = await holdWriteLock(path)
      const releaseAt = sleep(7000).then(() => lock.release())
      const args = [
        'alloc',
        'during',
        '--project',
        'p',
        '--range',
        `${range.from}-${range.to}`,
        '--registry',
        path,
      ]
      // One after the other, like the baseline: two at once on two loaded cores measure the machine.
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        PORTWARDEN_REGISTRY_TIMEOUT: String(LOCK_TIMEOUT_MS),
      }
      delete env.PORTWARDEN_REGISTRY
      const result = await runCliIn(ROOT, [...args, '--json'], { env })
      const text = await runCliIn(ROOT, args, { env })
      const body = parseJson<{ error: string; message: string }>(result)
      console.log(
        `[R6 CLI] exit ${result.code} after ${Math.round(result.ms)} ms (CLI start-up ${Math.round(baseline.ms)} ms): ${body.message}`,
      )
      expect(result.code).toBe(3)
      expect(body.error).toBe('registry_locked')
      expect(body.message).toMatch(/locked/)
      expect(body.message).toContain(path)
      // Start-up twice over: on two loaded cores one CLI start can take double the baseline.
      expect(result.ms).toBeLessThan(LOCK_TIMEOUT_MS + 1000 + 2 * baseline.ms)
      expect(result.ms).toBeGreaterThanOrEqual(LOCK_TIMEOUT_MS)
      expect(text.code).toBe(3)
      expect(text.stderr).toMatch(/locked/)
      expect(stackTraceLines(text.stderr)).toEqual([])
      await releaseAt
      expect(sha256File(path)).toBe(before)
      expect(sqliteRows(path).map((r) => r.service)).toEqual(['before'])
    }, 30_000)
  },
)

/** The CLI's lock wait in R6 (the default is 5 s; the test sets it through the environment). */
const LOCK_TIMEOUT_MS = 2000

describe('R7: corrupt, foreign and future files are refused (exit 3) and left byte for byte as they were', () => {
  const cases: { name: string; cause: RegExp; make(path: string, good: string): void }[] = [
    {
      name: 'a truncated registry',
      cause: /malformed|damaged|not a usable registry/,
      make: (path, good) => {
        copyFileSync(good, path)
        truncateSync(path, Math.floor(statSync(good).size / 2) + 100)
      },
    },
    {
      name: 'a registry cut inside its header',
      cause: /not a portwarden registry|not a usable registry|malformed/,
      make: (path, good) => {
        copyFileSync(good, path)
        truncateSync(path, 60)
      },
    },
    {
      name: 'a garbage page',
      cause: /damaged|malformed|not a usable registry/,
      make: (path, good) => {
        copyFileSync(good, path)
        const fd = openSync(path, 'r+')
        const garbage = Buffer.alloc(4096)
        for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 7919 + 13) & 0xff
        writeSync(fd, garbage, 0, garbage.length, 4096) // page 2: the allocations table
        closeSync(fd)
      },
    },
    {
      name: 'an SQLite database of another program (wrong application_id)',
      cause: /not a portwarden registry/,
      make: (path) => {
        const made = spawnSync('sqlite3', [
          path,
          "CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('mine');",
        ])
        if (made.status !== 0) {
          const db = new Sqlite(path)
          db.exec("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('mine');")
          db.close()
        }
      },
    },
    {
      name: `a registry from the future (user_version ${SQLITE_SCHEMA_VERSION + 1})`,
      cause: new RegExp(`schema version ${SQLITE_SCHEMA_VERSION + 1}`),
      make: (path, good) => {
        copyFileSync(good, path)
        const db = new Sqlite(path)
        db.pragma(`user_version = ${SQLITE_SCHEMA_VERSION + 1}`)
        db.pragma('wal_checkpoint(TRUNCATE)')
        db.close()
      },
    },
    { name: 'a 0-byte file', cause: /empty/, make: (path) => writeFileSync(path, '') },
    {
      name: 'a text file',
      cause: /not a usable registry|not a database|not a portwarden registry/,
      make: (path) => writeFileSync(path, 'port = 8080\n'.repeat(200)),
    },
  ]

  it.each(cases)('$name', async ({ make, cause }) => {
    const dir = tempDir()
    const good = join(dir, 'good.db')
    const seed = await openRegistry({ location: good })
    const range = await freePortBlock(10, ZONE)
    for (const service of ['a', 'b', 'c']) await allocate(seed, { project: 'p', service, range })
    await seed.close()
    const path = join(dir, 'registry.db')
    make(path, good)
    const before = snapshotDir(dir)
    for (const args of [
      ['alloc', 'web', '--project', 'p', '--registry', path],
      ['alloc', 'web', '--project', 'p', '--registry', path, '--json'],
      ['status', '--registry', path],
      ['find', '--registry', path],
    ]) {
      const result = await runCliIn(ROOT, args)
      const message = args.includes('--json')
        ? parseJson<{ message: string }>(result).message
        : result.stderr
      expect(result.code, `${args.join(' ')}: ${result.stdout}${result.stderr}`).toBe(3)
      expect(message).toContain(path)
      expect(message).toMatch(cause)
      expect(stackTraceLines(result.stderr)).toEqual([])
      expect(snapshotDir(dir), 'no byte changed, nothing deleted, nothing added').toEqual(before)
    }
    const failure = await openRegistry({ location: path }).then(
      () => null,
      (error: { code: string }) => error.code,
    )
    expect(['registry_corrupt', 'registry_unavailable']).toContain(failure)
    expect(snapshotDir(dir)).toEqual(before)
  })

  it('a directory at the path', async () => {
    const dir = tempDir()
    const path = join(dir, 'registry.db')
    mkdirSync(path)
    writeFileSync(join(path, 'keep.txt'), 'mine')
    const before = snapshotDir(dir)
    const result = await runCliIn(ROOT, ['alloc', 'web', '--project', 'p', '--registry', path])
    expect(result.code).toBe(3)
    expect(result.stderr).toContain(path)
    expect(result.stderr).toMatch(/directory/)
    expect(snapshotDir(dir)).toEqual(before)
  })
})

const nobodySkip = whyNobodyCannotRun()
describe.skipIf(nobodySkip !== null)(
  `R8: EACCES, run as nobody${nobodySkip ? ` [SKIPPED: ${nobodySkip}]` : ''}`,
  () => {
    const asNobody = (args: string[]) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn(
          'setpriv',
          [
            `--reuid=${NOBODY}`,
            `--regid=${NOBODY}`,
            '--clear-groups',
            process.execPath,
            CLI,
            ...args,
          ],
          {
            cwd: '/',
            stdio: ['ignore', 'pipe', 'pipe'],
          },
        )
        let stdout = ''
        let stderr = ''
        child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c))
        child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c))
        child.once('close', (code) => resolve({ code, stdout, stderr }))
      })

    function openDir(): string {
      const dir = tempDir()
      chmodSync(dir, 0o755) // nobody may look inside, not write
      return dir
    }

    it('a state directory nobody may not write (0500, owned by nobody), registry not there yet: exit 3 naming the path, no state files', async () => {
      const dir = openDir()
      const state = join(dir, 'state')
      mkdirSync(state)
      chownSync(state, NOBODY, NOBODY)
      chmodSync(state, 0o500)
      const path = join(state, 'registry.db')
      for (const args of [
        ['alloc', 'web', '--project', 'p', '--registry', path],
        ['alloc', 'web', '--project', 'p', '--registry', path, '--json'],
      ]) {
        const result = await asNobody(args)
        const message = args.includes('--json')
          ? parseJson<{ error: string; message: string }>(result).message
          : result.stderr
        expect(result.code, result.stdout + result.stderr).toBe(3)
        expect(message).toContain(path)
        expect(message).toMatch(/permission denied/i)
        expect(stackTraceLines(result.stderr)).toEqual([])
        expect(readdirSync(state)).toEqual([])
      }
    })

    it('a state directory that does not exist under a root-owned one: exit 3 naming the path, nothing created', async () => {
      const dir = openDir()
      const path = join(dir, 'portwarden', 'registry.db')
      const result = await asNobody(['alloc', 'web', '--project', 'p', '--registry', path])
      expect(result.code).toBe(3)
      expect(result.stderr).toContain(join(dir, 'portwarden'))
      expect(result.stderr).toMatch(/EACCES|permission denied/i)
      expect(stackTraceLines(result.stderr)).toEqual([])
      expect(readdirSync(dir)).toEqual([])
    })

    it('a registry owned by root (0644 in a 0755 directory): exit 3 naming the path, bytes unchanged, no state files', async () => {
      const dir = openDir()
      const path = join(dir, 'registry.db')
      const seed = await openRegistry({ location: path })
      await allocate(seed, {
        project: 'p',
        service: 'root-owned',
        range: await freePortBlock(10, ZONE),
      })
      await seed.close()
      chmodSync(path, 0o644)
      const before = snapshotDir(dir)
      for (const args of [
        ['alloc', 'web', '--project', 'p', '--registry', path],
        ['release', 'root-owned', '--project', 'p', '--registry', path],
      ]) {
        const result = await asNobody(args)
        expect(result.code, result.stdout + result.stderr).toBe(3)
        expect(result.stderr).toContain(path)
        expect(stackTraceLines(result.stderr)).toEqual([])
        expect(snapshotDir(dir)).toEqual(before)
      }
    })
  },
)

describe('R9: WAL growth with a reader holding a snapshot', () => {
  it('the -wal file stays bounded without a reader, grows while one pins a snapshot, and stops growing (checkpoints) once it lets go', async () => {
    const dir = tempDir()
    const path = join(dir, 'registry.db')
    const store = await openRegistry({ location: path })
    const walSize = () => (existsSync(`${path}-wal`) ? statSync(`${path}-wal`).size : 0)
    const reader = new Sqlite(path, { fileMustExist: true })
    const phases: { name: string; ms: number; withReader: boolean }[] = [
      { name: 'no reader', ms: 6000, withReader: false },
      { name: 'reader holds a snapshot', ms: 7000, withReader: true },
      { name: 'reader released', ms: 7000, withReader: false },
    ]
    const max: Record<string, number> = {}
    const end: Record<string, number> = {}
    let writes = 0
    const started = performance.now()
    for (const phase of phases) {
      if (phase.withReader) {
        reader.prepare('BEGIN').run()
        reader.prepare('SELECT count(*) FROM allocations').get() // the snapshot starts here
      } else if (reader.inTransaction) {
        reader.prepare('COMMIT').run()
      }
      max[phase.name] = 0
      const until = Date.now() + phase.ms
      const atLeast = writes + 600 // pages enough to pass the 1000-page auto-checkpoint, whatever the load
      while (Date.now() < until || writes < atLeast) {
        // a burst of write transactions (insert, then delete), then a pause: ~150 commits/s
        for (let i = 0; i < 4; i++) {
          const service = `s${writes++}`
          await store.write((tx) =>
            tx.insert({ project: 'wal', service, protocol: 'tcp', port: 1 + (writes % 60000) }),
          )
          await store.remove({ project: 'wal', service })
        }
        max[phase.name] = Math.max(max[phase.name] ?? 0, walSize())
        await sleep(50)
      }
      end[phase.name] = walSize()
    }
    const checkpoint = reader.pragma('wal_checkpoint(PASSIVE)') as {
      busy: number
      log: number
      checkpointed: number
    }[]
    reader.close()
    await store.close()
    const mb = (n: number | undefined) => `${((n ?? 0) / 1048576).toFixed(2)} MB`
    console.log(
      `[R9] ${writes} write transactions x2 in ${Math.round(performance.now() - started)} ms; -wal max: ${phases.map((p) => `${p.name} ${mb(max[p.name])}`).join(', ')}; ` +
        `at the end ${mb(end['reader released'])}; final passive checkpoint ${JSON.stringify(checkpoint[0])}; after close ${mb(walSize())}`,
    )
    // bounded without a reader: the auto-checkpoint keeps it near 1000 pages (4 MB)
    expect(max['no reader']).toBeLessThan(8 * 1048576)
    // the reader really pinned it (the test exercises the case)
    expect(max['reader holds a snapshot']).toBeGreaterThan(max['no reader'] ?? 0)
    // once released, the WAL is reused from its start: it grows no further
    expect(max['reader released']).toBeLessThanOrEqual(
      (end['reader holds a snapshot'] ?? 0) + 1048576,
    )
    expect(checkpoint[0]?.busy).toBe(0)
    expect(checkpoint[0]?.log).toBe(checkpoint[0]?.checkpointed)
    expect(sqliteIntegrity(path)).toBe('ok')
  }, 60_000)
})
