import { accessSync, constants, linkSync, renameSync, statSync, unlinkSync } from 'node:fs'
import { dirname } from 'node:path'
import type BetterSqlite3 from 'better-sqlite3'
import { PortwardenError, errnoOf } from '../errors.js'
import { makeDirectories } from '../state-dir.js'
import type { Protocol } from '../types.js'
import { ALLOCATION_COLUMNS, filterClause, rowToAllocation } from './rows.js'
import type { AllocationRow } from './rows.js'
import { createMutex } from './mutex.js'
import type {
  Allocation,
  AllocationFilter,
  HealthStatus,
  NewAllocation,
  RegistryStore,
  RegistryTransaction,
} from './types.js'

type Database = BetterSqlite3.Database

/** 'pwrd': marks a file as a portwarden registry (PRAGMA application_id). */
export const APPLICATION_ID = 0x70777264

/**
 * Schema versions, each applied in its own transaction together with `user_version`, so a
 * crash mid-migration leaves the previous version intact. Append only; never edit a shipped one.
 */
export const SQLITE_MIGRATIONS: readonly string[] = [
  // v1: allocations, with the constraints that make double allocation impossible.
  `CREATE TABLE allocations (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     host TEXT NOT NULL,
     project TEXT NOT NULL,
     service TEXT NOT NULL,
     protocol TEXT NOT NULL CHECK (protocol IN ('tcp', 'udp')),
     port INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
     created_at TEXT NOT NULL,
     health_status TEXT NOT NULL DEFAULT 'unknown'
       CHECK (health_status IN ('unknown', 'healthy', 'unhealthy', 'not_running')),
     last_checked_at TEXT,
     UNIQUE (host, protocol, port),
     UNIQUE (host, project, service, protocol)
   );
   PRAGMA application_id = ${APPLICATION_ID};`,
  // v2: what a health check needs to know and found, and who owns the port.
  `ALTER TABLE allocations ADD COLUMN health_check TEXT;
   ALTER TABLE allocations ADD COLUMN health_detail TEXT;
   ALTER TABLE allocations ADD COLUMN pid INTEGER;
   ALTER TABLE allocations ADD COLUMN worktree TEXT;`,
]

export const SQLITE_SCHEMA_VERSION = SQLITE_MIGRATIONS.length

/** The host an SQLite registry records: the file is local, so its rows are this machine's. */
const LOCAL_HOST = 'local'

export interface SqliteStoreOptions {
  /** How long to wait for another process's write lock (busy_timeout). Default 5000 ms. */
  timeoutMs?: number
  /** Stop migrating at this version (tests of the migrations); default: the latest. */
  targetVersion?: number
}

export async function openSqliteStore(
  path: string,
  options: SqliteStoreOptions = {},
): Promise<RegistryStore> {
  const { default: Sqlite } = await import('better-sqlite3')
  const timeout = options.timeoutMs ?? 5000
  const target = options.targetVersion ?? SQLITE_SCHEMA_VERSION
  if (!existingRegistryFile(path)) createRegistryFile(Sqlite, path, timeout, target)
  let db: Database
  try {
    db = new Sqlite(path, { fileMustExist: true, timeout })
  } catch (error) {
    throw sqliteFailure(error, path)
  }
  try {
    prepareConnection(db, path, target)
  } catch (error) {
    db.close()
    throw sqliteFailure(error, path)
  }
  return new SqliteStore(db, path, timeout)
}

/** True when a file is there; throws for what must never be opened (a directory, an empty file). */
function existingRegistryFile(path: string): boolean {
  let size: number
  try {
    const stat = statSync(path)
    if (stat.isDirectory()) {
      throw new PortwardenError(
        'registry_unavailable',
        `The registry path ${path} is a directory, not a registry file.`,
        {
          hint: 'Point --registry or PORTWARDEN_REGISTRY at a file path.',
        },
      )
    }
    size = stat.size
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') return false
    if (errnoOf(error) === 'EACCES') throw unavailable(path, 'permission denied', error)
    throw error
  }
  if (size === 0) {
    throw new PortwardenError(
      'registry_corrupt',
      `The registry file ${path} is empty (0 bytes), so it is not a portwarden registry; it was left as it is.`,
      { hint: 'Remove it if nothing else uses it, or choose another path with --registry.' },
    )
  }
  return true
}

/**
 * Builds a new registry beside its final path and links it into place, so no other process
 * ever sees a half-initialised file, and a crash leaves no empty file behind.
 */
function createRegistryFile(
  Sqlite: typeof BetterSqlite3,
  path: string,
  timeout: number,
  target: number,
): void {
  const directory = dirname(path)
  try {
    makeDirectories(directory)
  } catch (error) {
    throw unavailable(
      directory,
      `cannot create the directory (${errnoOf(error) ?? 'error'})`,
      error,
    )
  }
  const temporary = `${path}.init-${process.pid}-${Date.now()}`
  try {
    const db = new Sqlite(temporary, { timeout })
    try {
      db.pragma('journal_mode = DELETE') // a single file to link; WAL is switched on after
      migrate(db, temporary, target)
    } finally {
      db.close()
    }
    try {
      linkSync(temporary, path)
    } catch (error) {
      if (errnoOf(error) !== 'EEXIST') throw error // EEXIST: another process won the race; use its file
    }
  } catch (error) {
    if (error instanceof PortwardenError) throw error
    // SQLite says only "unable to open database file": say why, when it is the directory
    if ((error as { code?: unknown }).code === 'SQLITE_CANTOPEN' && !writable(directory)) {
      throw unavailable(path, `permission denied: cannot create files in ${directory}`, error)
    }
    throw sqliteFailure(error, path)
  } finally {
    try {
      unlinkSync(temporary)
    } catch {
      // already gone
    }
  }
}

function writable(directory: string): boolean {
  try {
    accessSync(directory, constants.W_OK | constants.X_OK)
    return true
  } catch {
    return false
  }
}

function prepareConnection(db: Database, path: string, target: number): void {
  const applicationId = db.pragma('application_id', { simple: true }) as number
  const version = db.pragma('user_version', { simple: true }) as number
  if (applicationId !== APPLICATION_ID) {
    throw new PortwardenError(
      'registry_corrupt',
      `The file ${path} is an SQLite database but not a portwarden registry (application_id 0x${(applicationId >>> 0).toString(16)}); it was left as it is.`,
      { hint: 'Choose another path with --registry or PORTWARDEN_REGISTRY.' },
    )
  }
  if (version > SQLITE_SCHEMA_VERSION) {
    throw new PortwardenError(
      'registry_corrupt',
      `The registry ${path} has schema version ${version}, newer than this portwarden understands (${SQLITE_SCHEMA_VERSION}); it was left as it is.`,
      { hint: 'Upgrade portwarden, or use another registry path.' },
    )
  }
  db.pragma('journal_mode = WAL')
  // After a long reader lets go the WAL is reused from the start, but keeps its size: cap it.
  db.pragma('journal_size_limit = 8388608')
  // WAL + NORMAL survives any process crash (kill -9); only a power cut can lose the last commits.
  db.pragma('synchronous = NORMAL')
  const check = db.pragma('quick_check', { simple: true }) as string
  if (check !== 'ok') {
    throw new PortwardenError(
      'registry_corrupt',
      `The registry ${path} is damaged (quick_check: ${check}); it was left as it is.`,
      {
        hint: 'Recover it with `sqlite3 FILE .recover`, or move it aside and start a new one.',
      },
    )
  }
  if (version < target) {
    // A consistent copy of the old version first: VACUUM INTO is one synchronous statement. It
    // is written under a .partial name and renamed when complete, so a process killed half-way
    // never leaves a truncated file that looks like a backup.
    const backup = `${path}.v${version}-${Date.now()}.bak`
    db.prepare('VACUUM INTO ?').run(`${backup}.partial`)
    renameSync(`${backup}.partial`, backup)
    migrate(db, path, target)
  }
}

function migrate(db: Database, path: string, target: number): void {
  for (;;) {
    db.prepare('BEGIN IMMEDIATE').run()
    try {
      const version = db.pragma('user_version', { simple: true }) as number
      if (version >= target) {
        db.prepare('COMMIT').run()
        return
      }
      db.exec(SQLITE_MIGRATIONS[version] as string)
      db.pragma(`user_version = ${version + 1}`)
      db.prepare('COMMIT').run()
    } catch (error) {
      if (db.inTransaction) db.prepare('ROLLBACK').run()
      throw sqliteFailure(error, path)
    }
  }
}

function unavailable(path: string, why: string, cause?: unknown): PortwardenError {
  return new PortwardenError(
    'registry_unavailable',
    `Cannot use the registry at ${path}: ${why}.`,
    {
      hint: 'Check the permissions of the file and its directory, or choose another path with --registry.',
      cause,
    },
  )
}

/** How long one BEGIN IMMEDIATE attempt lets SQLite's busy handler wait before we retry. */
const LOCK_ATTEMPT_MS = 50

/** SQLITE_BUSY or SQLITE_LOCKED, extended codes (SQLITE_BUSY_RECOVERY, ...) included. */
function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' && /^SQLITE_(BUSY|LOCKED)/.test(code)
}

/** SQLite's result codes, in the spec's terms. */
export function sqliteFailure(error: unknown, path: string): PortwardenError {
  if (error instanceof PortwardenError) return error
  const code = (error as { code?: unknown }).code
  const message = error instanceof Error ? error.message : String(error)
  if (isBusy(error)) {
    return new PortwardenError(
      'registry_locked',
      `The registry ${path} is locked by another process (waited past the timeout).`,
      {
        hint: 'Retry; if it persists, find the process holding it with `portwarden who` or `fuser`.',
        cause: error,
      },
    )
  }
  // better-sqlite3 reports extended result codes (SQLITE_BUSY_RECOVERY, SQLITE_CORRUPT_INDEX, ...)
  if (typeof code === 'string' && /^SQLITE_(NOTADB|CORRUPT)/.test(code)) {
    return new PortwardenError(
      'registry_corrupt',
      `The file ${path} is not a usable registry (${message}); it was left as it is.`,
      {
        hint: 'Move it aside, or choose another path with --registry.',
        cause: error,
      },
    )
  }
  if (typeof code === 'string' && /^SQLITE_(CANTOPEN|READONLY|PERM|IOERR|AUTH|FULL)/.test(code)) {
    return unavailable(path, message, error)
  }
  const errno = errnoOf(error)
  if (errno === 'EACCES' || errno === 'EPERM' || errno === 'EROFS')
    return unavailable(path, 'permission denied', error)
  if (error instanceof Error)
    return new PortwardenError('registry_unavailable', `Registry ${path}: ${message}.`, {
      cause: error,
    })
  return new PortwardenError('registry_unavailable', `Registry ${path}: ${message}.`)
}

class SqliteStore implements RegistryStore {
  readonly kind = 'sqlite'
  readonly host = LOCAL_HOST
  private readonly lock = createMutex()
  private closed = false

  private readonly db: Database
  readonly location: string
  private readonly timeoutMs: number

  constructor(db: Database, location: string, timeoutMs: number) {
    this.db = db
    this.location = location
    this.timeoutMs = timeoutMs
  }

  private all(sql: string, ...params: unknown[]): Allocation[] {
    try {
      return (this.db.prepare(sql).all(...params) as AllocationRow[]).map(rowToAllocation)
    } catch (error) {
      throw sqliteFailure(error, this.location)
    }
  }

  async write<T>(work: (tx: RegistryTransaction) => Promise<T>): Promise<T> {
    return this.lock(async () => {
      await this.beginImmediate()
      try {
        const result = await work(this.transaction())
        this.db.prepare('COMMIT').run()
        return result
      } catch (error) {
        if (this.db.inTransaction) this.db.prepare('ROLLBACK').run()
        throw sqliteFailure(error, this.location)
      }
    })
  }

  /**
   * BEGIN IMMEDIATE within the timeout. SQLite's own busy handler backs off to 100 ms sleeps,
   * so a caller that has waited long polls rarely and loses the lock to newcomers again and
   * again (64 processes: a few callers starved past 5 s). Short attempts that restart the handler
   * keep every waiter polling at the same pace, and no longer block the event loop for seconds.
   */
  private async beginImmediate(): Promise<void> {
    const deadline = Date.now() + this.timeoutMs
    try {
      for (;;) {
        this.db.pragma(
          `busy_timeout = ${Math.max(0, Math.min(LOCK_ATTEMPT_MS, deadline - Date.now()))}`,
        )
        try {
          this.db.prepare('BEGIN IMMEDIATE').run()
          return
        } catch (error) {
          if (!isBusy(error) || Date.now() >= deadline) throw sqliteFailure(error, this.location)
        }
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 2))
      }
    } finally {
      this.db.pragma(`busy_timeout = ${this.timeoutMs}`)
    }
  }

  private transaction(): RegistryTransaction {
    const host = this.host
    return {
      findService: async (project: string, service: string, protocol: Protocol) =>
        this.all(
          `SELECT ${ALLOCATION_COLUMNS} FROM allocations WHERE host = ? AND project = ? AND service = ? AND protocol = ?`,
          host,
          project,
          service,
          protocol,
        )[0] ?? null,
      findPort: async (protocol: Protocol, port: number) =>
        this.all(
          `SELECT ${ALLOCATION_COLUMNS} FROM allocations WHERE host = ? AND protocol = ? AND port = ?`,
          host,
          protocol,
          port,
        )[0] ?? null,
      takenPorts: async (protocol: Protocol, from: number, to: number) =>
        this.takenPorts(protocol, from, to),
      insert: async (row: NewAllocation) => {
        const created = this.db
          .prepare(
            `INSERT INTO allocations (host, project, service, protocol, port, created_at, health_check, pid, worktree)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING ${ALLOCATION_COLUMNS}`,
          )
          .get(
            host,
            row.project,
            row.service,
            row.protocol,
            row.port,
            new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
            row.healthCheck ? JSON.stringify(row.healthCheck) : null,
            row.pid ?? null,
            row.worktree ?? null,
          ) as AllocationRow
        return rowToAllocation(created)
      },
      recordPid: async (id: number, pid: number) => {
        const [updated] = this.all(
          `UPDATE allocations SET pid = ? WHERE id = ? AND host = ? RETURNING ${ALLOCATION_COLUMNS}`,
          pid,
          id,
          host,
        )
        if (!updated) throw new Error(`allocation ${id} vanished inside the write transaction`)
        return updated
      },
    }
  }

  async takenPorts(protocol: Protocol, from: number, to: number): Promise<Set<number>> {
    try {
      const ports = this.db
        .prepare(
          'SELECT port FROM allocations WHERE host = ? AND protocol = ? AND port BETWEEN ? AND ?',
        )
        .pluck()
        .all(this.host, protocol, from, to) as number[]
      return new Set(ports)
    } catch (error) {
      throw sqliteFailure(error, this.location)
    }
  }

  async list(filter: AllocationFilter = {}): Promise<Allocation[]> {
    const { where, params } = filterClause(this.host, filter, () => '?')
    return this.all(
      `SELECT ${ALLOCATION_COLUMNS} FROM allocations WHERE ${where} ORDER BY project, service, protocol`,
      ...params,
    )
  }

  async remove(filter: AllocationFilter): Promise<Allocation[]> {
    const { where, params } = filterClause(this.host, filter, () => '?')
    return this.lock(async () =>
      this.all(`DELETE FROM allocations WHERE ${where} RETURNING ${ALLOCATION_COLUMNS}`, ...params),
    )
  }

  async recordHealth(
    id: number,
    status: HealthStatus,
    detail: string | null,
    checkedAt: string,
  ): Promise<void> {
    await this.lock(async () => {
      try {
        this.db
          .prepare(
            'UPDATE allocations SET health_status = ?, health_detail = ?, last_checked_at = ? WHERE id = ? AND host = ?',
          )
          .run(status, detail, checkedAt, id, this.host)
      } catch (error) {
        throw sqliteFailure(error, this.location)
      }
    })
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.db.close()
  }
}
