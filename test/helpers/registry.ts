/**
 * Shared tools of the registry tests: throwaway registries on both backends (an SQLite file in a
 * temp dir, a fresh database on a real PostgreSQL server), an independent view of their rows (a
 * separate better-sqlite3 / pg connection, never the store under test), fixture processes that
 * hold ports or allocate, and the checks every concurrency test shares.
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process'
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import Sqlite from 'better-sqlite3'
import pg from 'pg'
import { cliEnv, runCliAt } from './cli.js'
import type { CliResult } from './cli.js'
import { FIXTURES, LineWaiter, ROOT, killGroups } from './processes.js'
import type { RunningPostgres } from './servers.js'
import { postgresBinaries, startPostgres } from './servers.js'
import { portIsFree } from './sockets.js'

export const WORKER = `${FIXTURES}registry-worker.mjs`
export const LISTEN = `${FIXTURES}registry-listen.mjs`

// ---------------------------------------------------------------------------------------------
// Temp directories and file identity

import { tempDir } from './temp-dirs.js'
export { removeTempDirs, tempDir } from './temp-dirs.js'

export function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex')
}

/** Every entry of a directory (recursively) with its sha256, or `dir` for a directory. */
export function snapshotDir(dir: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) {
      out[name] = 'dir'
      for (const [inner, hash] of Object.entries(snapshotDir(path))) out[`${name}/${inner}`] = hash
    } else {
      out[name] = sha256File(path)
    }
  }
  return out
}

// ---------------------------------------------------------------------------------------------
// Registries on both backends

/** A registry row as an independent connection reads it. */
export interface RawRow {
  project: string
  service: string
  protocol: string
  port: number
}

export interface RegistryTarget {
  backend: 'sqlite' | 'postgres'
  /** What `openRegistry({ location })` and `--registry` take. */
  location: string
  /** Rows of the registry table (or of `table`), read through a separate connection. */
  rows(table?: string): Promise<RawRow[]>
  /** `PRAGMA integrity_check` (SQLite; PostgreSQL answers `ok`). */
  integrity(): Promise<string>
  /** `(protocol, port)` pairs held by more than one row, found by the database (GROUP BY ... HAVING). */
  duplicatesBySql(table?: string): Promise<string[]>
  /** Runs SQL through a separate connection (to build broken tables for the negative controls). */
  exec(sql: string): Promise<void>
}

export interface Backend {
  name: 'sqlite' | 'postgres'
  /** Why this backend cannot run here (the test titles say so), or null. */
  skipReason: string | null
  start(): Promise<void>
  stop(): Promise<void>
  /** A new, empty registry location (nothing created yet for SQLite; a new database for PG). */
  fresh(): Promise<RegistryTarget>
}

export function sqliteRows(path: string, table = 'allocations'): RawRow[] {
  const db = new Sqlite(path, { readonly: true, fileMustExist: true })
  try {
    return db
      .prepare(`SELECT project, service, protocol, port FROM ${table} ORDER BY protocol, port`)
      .all() as RawRow[]
  } finally {
    db.close()
  }
}

export function sqliteIntegrity(
  path: string,
  pragma: 'integrity_check' | 'quick_check' = 'integrity_check',
): string {
  const db = new Sqlite(path, { fileMustExist: true })
  try {
    return (db.pragma(pragma) as { [key: string]: string }[])
      .map((r) => Object.values(r)[0])
      .join('; ')
  } finally {
    db.close()
  }
}

const DUPLICATES_SQL = (table: string) =>
  `SELECT port || '/' || protocol || ' x' || count(*) AS key FROM ${table} GROUP BY protocol, port HAVING count(*) > 1`

export function sqliteBackend(): Backend {
  let dir = ''
  let counter = 0
  return {
    name: 'sqlite',
    skipReason: null,
    async start() {
      dir = tempDir('pw-registry-sqlite-')
    },
    async stop() {},
    async fresh() {
      const location = join(dir, `registry-${++counter}.db`)
      return {
        backend: 'sqlite',
        location,
        rows: async (table) => sqliteRows(location, table),
        integrity: async () => sqliteIntegrity(location),
        duplicatesBySql: async (table = 'allocations') => {
          const db = new Sqlite(location, { readonly: true, fileMustExist: true })
          try {
            return (db.prepare(DUPLICATES_SQL(table)).all() as { key: string }[]).map((r) => r.key)
          } finally {
            db.close()
          }
        },
        exec: async (sql) => {
          const db = new Sqlite(location)
          try {
            db.pragma('journal_mode = WAL')
            db.exec(sql)
          } finally {
            db.close()
          }
        },
      }
    },
  }
}

const pgSkip =
  postgresBinaries() === null ? 'PostgreSQL binaries are not installed (no initdb/postgres)' : null

export function postgresBackend(): Backend {
  let server: RunningPostgres | null = null
  let admin: pg.Client | null = null
  let counter = 0
  return {
    name: 'postgres',
    skipReason: pgSkip,
    async start() {
      server = await startPostgres()
      admin = new pg.Client({ connectionString: server.url })
      await admin.connect()
    },
    async stop() {
      await admin?.end().catch(() => {})
      await server?.stop()
    },
    async fresh() {
      if (!server || !admin) throw new Error('postgres backend not started')
      const name = `pw_${process.pid}_${++counter}`
      await admin.query(`CREATE DATABASE ${name}`)
      const location = `postgres://postgres@${server.host}:${server.port}/${name}`
      const withClient = async <T>(work: (client: pg.Client) => Promise<T>): Promise<T> => {
        const client = new pg.Client({ connectionString: location })
        await client.connect()
        try {
          return await work(client)
        } finally {
          await client.end()
        }
      }
      return {
        backend: 'postgres',
        location,
        rows: (table = 'portwarden_allocations') =>
          withClient(
            async (c) =>
              (
                await c.query<RawRow>(
                  `SELECT project, service, protocol, port FROM ${table} ORDER BY protocol, port`,
                )
              ).rows,
          ),
        integrity: async () => 'ok',
        duplicatesBySql: (table = 'portwarden_allocations') =>
          withClient(async (c) =>
            (await c.query<{ key: string }>(DUPLICATES_SQL(table))).rows.map((r) => r.key),
          ),
        exec: (sql) => withClient(async (c) => void (await c.query(sql))),
      }
    },
  }
}

export function backends(): Backend[] {
  return [sqliteBackend(), postgresBackend()]
}

/** `(protocol, port)` pairs that appear more than once. */
export function duplicatePorts(rows: readonly RawRow[]): string[] {
  const seen = new Map<string, number>()
  for (const row of rows)
    seen.set(`${row.port}/${row.protocol}`, (seen.get(`${row.port}/${row.protocol}`) ?? 0) + 1)
  return [...seen].filter(([, n]) => n > 1).map(([key, n]) => `${key} x${n}`)
}

// ---------------------------------------------------------------------------------------------
// Ports

/**
 * Each registry test file looks for ports in its own zone (below the ephemeral range
 * 32768-60999 and the default allocation range 20000-29999), so files running in parallel never
 * hold ports in each other's ranges.
 */
export const PORT_ZONES = {
  store: { from: 10000, to: 11999 },
  cli: { from: 12000, to: 12999 },
  concurrency: { from: 13000, to: 15999 },
  durability: { from: 16000, to: 16999 },
  conflicts: { from: 17000, to: 17999 },
  model: { from: 18000, to: 18499 },
  bench: { from: 18500, to: 19899 },
  health: { from: 19900, to: 19999 },
} as const

/**
 * `size` consecutive ports inside `zone` that nothing holds right now (TCP and UDP, any
 * address), starting at a random place; successive calls in one file never overlap.
 */
const handedOut: { from: number; to: number }[] = []
export async function freePortBlock(
  size: number,
  zone: { from: number; to: number },
): Promise<{ from: number; to: number }> {
  // Every start whose block stays inside the zone and clear of the blocks handed out, in random
  // order: a block is found whenever one exists, not only when a random draw happens to hit it.
  const starts: number[] = []
  for (let from = zone.from; from + size - 1 <= zone.to; from++)
    if (!handedOut.some((b) => b.from <= from + size - 1 && from <= b.to)) starts.push(from)
  for (let i = starts.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    ;[starts[i], starts[j]] = [starts[j]!, starts[i]!]
  }
  const held = new Set<number>()
  for (const from of starts.slice(0, 400)) {
    const block = { from, to: from + size - 1 }
    let free = true
    for (let at = from; free && at <= block.to; at += 100) {
      const ports = Array.from({ length: Math.min(100, block.to - at + 1) }, (_, i) => at + i)
      if (ports.some((port) => held.has(port))) free = false
      else {
        const answers = await Promise.all(ports.map((port) => portIsFree(port)))
        answers.forEach((isFree, i) => isFree || held.add(ports[i]!))
        free = answers.every(Boolean)
      }
    }
    if (free) {
      handedOut.push(block)
      return block
    }
  }
  throw new Error(`no free block of ${size} ports in ${zone.from}-${zone.to}`)
}

export function releasePortBlocks(): void {
  handedOut.length = 0
}

// ---------------------------------------------------------------------------------------------
// Fixture processes

export interface Child {
  pid: number
  child: ChildProcessWithoutNullStreams
  lines: string[]
  stderr(): string
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  hasExited(): boolean
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>
  /** JSON payloads of the lines tagged `tag` (`TAG {...}`). */
  tagged<T>(tag: string): T[]
}

const children = new Set<Child>()

/** Spawns `node SCRIPT ...args` (own process group) with its stdout split into lines. */
export function spawnNode(
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Child {
  const child = spawn(process.execPath, args, {
    cwd: options.cwd ?? ROOT,
    env: options.env ?? process.env,
    detached: true,
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  if (child.pid === undefined) throw new Error(`could not start node ${args.join(' ')}`)
  const lines: string[] = []
  let stderr = ''
  const waiter = new LineWaiter(() => `node ${args.join(' ')}:\n${lines.join('\n')}\n${stderr}`)
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    if (stderr.length < 1 << 16) stderr += chunk
  })
  createInterface({ input: child.stdout }).on('line', (line) => {
    lines.push(line)
    waiter.wake()
  })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('close', (code, signal) => {
      waiter.end()
      resolve({ code, signal })
    })
  })
  const entry: Child = {
    pid: child.pid,
    child,
    lines,
    stderr: () => stderr,
    exited,
    hasExited: () => waiter.hasEnded,
    waitFor: (pattern, timeoutMs = 20_000) => waiter.waitFor(lines, pattern, timeoutMs),
    tagged: <T>(tag: string) =>
      lines
        .filter((line) => line.startsWith(`${tag} `))
        .map((line) => JSON.parse(line.slice(tag.length + 1)) as T),
  }
  children.add(entry)
  return entry
}

/** SIGKILLs (by process group) every fixture process still running, and reaps them. */
export async function killChildren(): Promise<void> {
  const running = [...children]
  children.clear()
  await killGroups(running)
}

export interface Endpoint {
  host: string
  port: number
}

export interface Holder {
  pid: number
  process: Child
  /** The ports it holds (all asked for, unless `tolerant` skipped some held by others). */
  tcp: number[]
  udp: number[]
  /** Listens on one more TCP port (same process, same pid). */
  listen(host: string, port: number): Promise<void>
  stop(): Promise<void>
}

/** A node process holding these ports (optionally answering HTTP), started in `cwd`. */
export async function holdPorts(
  spec: {
    tcp?: Endpoint[]
    udp?: Endpoint[]
    http?: { status: number; path?: string }
    tolerant?: boolean
  },
  options: { cwd?: string } = {},
): Promise<Holder> {
  const proc = spawnNode([LISTEN, JSON.stringify(spec)], { cwd: options.cwd })
  const match = await proc.waitFor(/^(READY|ERROR) (.*)$/)
  if (match[1] === 'ERROR') {
    await proc.exited
    throw new Error(`the listener fixture could not bind: ${match[2]}`)
  }
  const ready = JSON.parse(match[2] as string) as { tcp: number[]; udp: number[] }
  return {
    pid: proc.pid,
    process: proc,
    tcp: ready.tcp,
    udp: ready.udp,
    async listen(host: string, port: number) {
      proc.child.stdin.write(`TCP ${host} ${port}\n`)
      await proc.waitFor(new RegExp(`^LISTENING ${port}$`))
    },
    async stop() {
      if (!proc.hasExited()) proc.child.stdin.end()
      await proc.exited
    },
  }
}

// ---------------------------------------------------------------------------------------------
// The CLI, run in a chosen directory

export function runCliIn(
  cwd: string,
  args: readonly string[],
  options: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<CliResult & { ms: number }> {
  // Only a test that sets PORTWARDEN_REGISTRY on purpose uses it.
  const env = options.env ? cliEnv({ ...options.env }) : cliEnv({ PORTWARDEN_REGISTRY: undefined })
  return runCliAt(cwd, args, { env, timeoutMs: options.timeoutMs ?? 30_000 })
}

// ---------------------------------------------------------------------------------------------
// The concurrency harness (R1, R1n, R2)

export interface Answer {
  service: string
  ok: boolean
  port?: number
  protocol?: string
  created?: boolean
  code?: string
  message?: string
}

export interface WorkerJob {
  location: string
  project: string
  services: string[]
  range?: { from: number; to: number }
  protocol?: 'tcp' | 'udp'
  store?: 'real' | 'broken-notx' | 'broken-deferred' | 'broken-pg'
  table?: string
  timeoutMs?: number
}

/**
 * Starts every worker, waits until all have opened the registry, releases them at once (GO on
 * stdin) and collects every answer. A worker that dies shows as missing answers.
 */
export async function runWorkers(
  jobs: readonly WorkerJob[],
): Promise<{ answers: Answer[]; failures: string[]; ms: number }> {
  const workers = jobs.map((job) => spawnNode([WORKER, JSON.stringify({ op: 'batch', ...job })]))
  const failures: string[] = []
  await Promise.all(
    workers.map((w) =>
      w.waitFor(/^READY /, 60_000).catch((error: Error) => {
        failures.push(error.message)
      }),
    ),
  )
  const started = performance.now()
  for (const w of workers) if (!w.hasExited()) w.child.stdin.write('GO\n')
  const exits = await Promise.all(workers.map((w) => w.exited))
  const ms = performance.now() - started
  exits.forEach((exit, i) => {
    if (exit.code !== 0)
      failures.push(
        `worker ${i} exited ${exit.code ?? exit.signal}: ${workers[i]?.stderr().slice(-2000)}`,
      )
  })
  return { answers: workers.flatMap((w) => w.tagged<Answer>('ANSWER')), failures, ms }
}

export interface Verdict {
  answers: number
  succeeded: number
  created: number
  busy: number
  otherErrors: string[]
  rows: number
  duplicates: string[]
  /** Ports two answers were both given (for different services). */
  duplicateAnswers: string[]
}

/** The checks of R1, computed the same way for the real allocator and the broken ones. */
export function judge(answers: readonly Answer[], rows: readonly RawRow[]): Verdict {
  const isBusy = (code: string | undefined, message: string | undefined) =>
    code === 'registry_locked' ||
    /^SQLITE_BUSY/.test(code ?? '') ||
    /SQLITE_BUSY|database is locked/i.test(message ?? '')
  const given = new Map<string, Set<string>>()
  for (const a of answers) {
    if (!a.ok) continue
    const key = `${a.port}/${a.protocol}`
    given.set(key, (given.get(key) ?? new Set()).add(a.service))
  }
  return {
    answers: answers.length,
    succeeded: answers.filter((a) => a.ok).length,
    created: answers.filter((a) => a.ok && a.created).length,
    busy: answers.filter((a) => !a.ok && isBusy(a.code, a.message)).length,
    otherErrors: answers
      .filter((a) => !a.ok && !isBusy(a.code, a.message))
      .map((a) => `${a.service}: ${a.code} ${a.message}`),
    rows: rows.length,
    duplicates: duplicatePorts(rows),
    duplicateAnswers: [...given]
      .filter(([, services]) => services.size > 1)
      .map(([key, s]) => `${key}: ${[...s].join(', ')}`),
  }
}

/** Ports some socket on this host listens on / is bound to (TCP listeners, UDP sockets), per ss. */
export async function heldPorts(range: { from: number; to: number }): Promise<Set<string>> {
  const result = await new Promise<string>((resolve, reject) => {
    const child = spawn('ss', ['-tulnH', `( sport >= :${range.from} and sport <= :${range.to} )`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c))
    child.once('error', reject)
    child.once('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`ss exited ${code}`)),
    )
  })
  const held = new Set<string>()
  for (const line of result.split('\n')) {
    const fields = line.trim().split(/\s+/)
    if (fields.length < 5) continue
    const port = Number(fields[4]?.slice(fields[4].lastIndexOf(':') + 1))
    if (Number.isInteger(port)) held.add(`${port}/${fields[0]}`)
  }
  return held
}
