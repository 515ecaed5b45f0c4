import { hostname } from 'node:os'
import type { Pool, PoolClient } from 'pg'
import { PortwardenError } from '../errors.js'
import type { Protocol } from '../types.js'
import type { AllocationRow } from './rows.js'
import { ALLOCATION_COLUMNS, filterClause, rowToAllocation } from './rows.js'
import type {
  Allocation,
  AllocationFilter,
  HealthStatus,
  NewAllocation,
  RegistryStore,
  RegistryTransaction,
} from './types.js'

/** Every portwarden client takes this transaction-scoped advisory lock before it writes. */
const WRITE_LOCK_KEY = 0x70777264

/** Same shape as the SQLite schema, with the same constraints; applied in order, each in a transaction. */
export const POSTGRES_MIGRATIONS: readonly string[] = [
  `CREATE TABLE portwarden_allocations (
     id BIGSERIAL PRIMARY KEY,
     host TEXT NOT NULL,
     project TEXT NOT NULL,
     service TEXT NOT NULL,
     protocol TEXT NOT NULL CHECK (protocol IN ('tcp', 'udp')),
     port INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
     created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
     health_status TEXT NOT NULL DEFAULT 'unknown'
       CHECK (health_status IN ('unknown', 'healthy', 'unhealthy', 'not_running')),
     last_checked_at TIMESTAMPTZ,
     UNIQUE (host, protocol, port),
     UNIQUE (host, project, service, protocol)
   )`,
  `ALTER TABLE portwarden_allocations
     ADD COLUMN health_check TEXT,
     ADD COLUMN health_detail TEXT,
     ADD COLUMN pid INTEGER,
     ADD COLUMN worktree TEXT`,
]

export interface PostgresStoreOptions {
  timeoutMs?: number
  /** The host name rows are recorded under; default PORTWARDEN_HOST or the machine's name. */
  host?: string
}

/** The URL with its password replaced, for messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password) parsed.password = '***'
    return parsed.toString()
  } catch {
    return 'postgres://(unparseable URL)'
  }
}

export async function openPostgresStore(
  url: string,
  options: PostgresStoreOptions = {},
): Promise<RegistryStore> {
  const { default: pg } = await import('pg')
  const location = redactUrl(url)
  const timeoutMs = options.timeoutMs ?? 5000
  const pool = new pg.Pool({ connectionString: url, max: 4, connectionTimeoutMillis: timeoutMs })
  pool.on('error', () => {}) // an idle client's connection dropped: the next query reconnects
  const store = new PostgresStore(
    pool,
    location,
    options.host ?? process.env.PORTWARDEN_HOST ?? hostname(),
    timeoutMs,
  )
  try {
    await store.migrate()
  } catch (error) {
    await pool.end().catch(() => {})
    throw postgresFailure(error, location)
  }
  return store
}

export function postgresFailure(error: unknown, location: string): PortwardenError {
  if (error instanceof PortwardenError) return error
  const code = (error as { code?: unknown }).code
  const message = error instanceof Error ? error.message : String(error)
  if (code === '55P03' || code === '57014') {
    return new PortwardenError(
      'registry_locked',
      `The registry ${location} is locked by another client (waited past the timeout).`,
      {
        hint: 'Retry; another portwarden is holding the registry write lock.',
        cause: error,
      },
    )
  }
  return new PortwardenError(
    'registry_unavailable',
    `Cannot use the registry at ${location}: ${message}.`,
    {
      hint: 'Check that the PostgreSQL server is up and the URL, user and database are right.',
      cause: error,
    },
  )
}

class PostgresStore implements RegistryStore {
  readonly kind = 'postgres'
  private readonly pool: Pool
  readonly location: string
  readonly host: string
  private readonly timeoutMs: number

  constructor(pool: Pool, location: string, host: string, timeoutMs: number) {
    this.pool = pool
    this.location = location
    this.host = host
    this.timeoutMs = timeoutMs
  }

  /** Runs `work` in a transaction holding the registry's write lock. */
  private async locked<T>(work: (client: PoolClient) => Promise<T>): Promise<T> {
    let client: PoolClient
    try {
      client = await this.pool.connect()
    } catch (error) {
      throw postgresFailure(error, this.location)
    }
    try {
      await client.query('BEGIN')
      await client.query(`SET LOCAL lock_timeout = ${Math.max(1, Math.floor(this.timeoutMs))}`)
      await client.query('SELECT pg_advisory_xact_lock($1)', [WRITE_LOCK_KEY])
      const result = await work(client)
      await client.query('COMMIT')
      return result
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {})
      throw postgresFailure(error, this.location)
    } finally {
      client.release()
    }
  }

  async migrate(): Promise<void> {
    await this.locked(async (client) => {
      await client.query(
        'CREATE TABLE IF NOT EXISTS portwarden_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)',
      )
      const found = await client.query<{ value: string }>(
        "SELECT value FROM portwarden_meta WHERE key = 'schema_version'",
      )
      const version = found.rows[0] ? Number(found.rows[0].value) : 0
      if (version > POSTGRES_MIGRATIONS.length) {
        throw new PortwardenError(
          'registry_corrupt',
          `The registry ${this.location} has schema version ${version}, newer than this portwarden understands (${POSTGRES_MIGRATIONS.length}).`,
          { hint: 'Upgrade portwarden on this host.' },
        )
      }
      for (let next = version; next < POSTGRES_MIGRATIONS.length; next++) {
        await client.query(POSTGRES_MIGRATIONS[next] as string)
      }
      await client.query(
        "INSERT INTO portwarden_meta (key, value) VALUES ('schema_version', $1) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
        [String(POSTGRES_MIGRATIONS.length)],
      )
    })
  }

  private async rows(
    client: Pool | PoolClient,
    sql: string,
    params: unknown[],
  ): Promise<Allocation[]> {
    const result = await client.query<AllocationRow>(sql, params)
    return result.rows.map(rowToAllocation)
  }

  async write<T>(work: (tx: RegistryTransaction) => Promise<T>): Promise<T> {
    return this.locked((client) => {
      const host = this.host
      const tx: RegistryTransaction = {
        findService: async (project: string, service: string, protocol: Protocol) =>
          (
            await this.rows(
              client,
              `SELECT ${ALLOCATION_COLUMNS} FROM portwarden_allocations WHERE host = $1 AND project = $2 AND service = $3 AND protocol = $4`,
              [host, project, service, protocol],
            )
          )[0] ?? null,
        findPort: async (protocol: Protocol, port: number) =>
          (
            await this.rows(
              client,
              `SELECT ${ALLOCATION_COLUMNS} FROM portwarden_allocations WHERE host = $1 AND protocol = $2 AND port = $3`,
              [host, protocol, port],
            )
          )[0] ?? null,
        takenPorts: (protocol: Protocol, from: number, to: number) =>
          this.portsIn(client, protocol, from, to),
        insert: async (row: NewAllocation) =>
          (
            await this.rows(
              client,
              `INSERT INTO portwarden_allocations (host, project, service, protocol, port, health_check, pid, worktree)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ${ALLOCATION_COLUMNS}`,
              [
                host,
                row.project,
                row.service,
                row.protocol,
                row.port,
                row.healthCheck ? JSON.stringify(row.healthCheck) : null,
                row.pid ?? null,
                row.worktree ?? null,
              ],
            )
          )[0] as Allocation,
        recordPid: async (id: number, pid: number) => {
          const [updated] = await this.rows(
            client,
            `UPDATE portwarden_allocations SET pid = $1 WHERE id = $2 AND host = $3 RETURNING ${ALLOCATION_COLUMNS}`,
            [pid, id, host],
          )
          if (!updated) throw new Error(`allocation ${id} vanished inside the write transaction`)
          return updated
        },
      }
      return work(tx)
    })
  }

  private async portsIn(
    client: Pool | PoolClient,
    protocol: Protocol,
    from: number,
    to: number,
  ): Promise<Set<number>> {
    const result = await client.query<{ port: number }>(
      'SELECT port FROM portwarden_allocations WHERE host = $1 AND protocol = $2 AND port BETWEEN $3 AND $4',
      [this.host, protocol, from, to],
    )
    return new Set(result.rows.map((row) => row.port))
  }

  async takenPorts(protocol: Protocol, from: number, to: number): Promise<Set<number>> {
    try {
      return await this.portsIn(this.pool, protocol, from, to)
    } catch (error) {
      throw postgresFailure(error, this.location)
    }
  }

  async list(filter: AllocationFilter = {}): Promise<Allocation[]> {
    const { where, params } = filterClause(this.host, filter, (n) => `$${n}`)
    try {
      return await this.rows(
        this.pool,
        `SELECT ${ALLOCATION_COLUMNS} FROM portwarden_allocations WHERE ${where} ORDER BY project, service, protocol`,
        params,
      )
    } catch (error) {
      throw postgresFailure(error, this.location)
    }
  }

  async remove(filter: AllocationFilter): Promise<Allocation[]> {
    const { where, params } = filterClause(this.host, filter, (n) => `$${n}`)
    return this.locked((client) =>
      this.rows(
        client,
        `DELETE FROM portwarden_allocations WHERE ${where} RETURNING ${ALLOCATION_COLUMNS}`,
        params,
      ),
    )
  }

  async recordHealth(
    id: number,
    status: HealthStatus,
    detail: string | null,
    checkedAt: string,
  ): Promise<void> {
    try {
      await this.pool.query(
        'UPDATE portwarden_allocations SET health_status = $1, health_detail = $2, last_checked_at = $3 WHERE id = $4 AND host = $5',
        [status, detail, checkedAt, id, this.host],
      )
    } catch (error) {
      throw postgresFailure(error, this.location)
    }
  }

  async close(): Promise<void> {
    await this.pool.end().catch(() => {})
  }
}
