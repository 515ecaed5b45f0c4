import type { Protocol } from '../types.js'

export type HealthStatus = 'unknown' | 'healthy' | 'unhealthy' | 'not_running'

/** How to tell that the service on an allocated port answers (level 3 of a health check). */
export type HealthCheckSpec =
  | { kind: 'tcp' }
  | { kind: 'http' | 'https'; path: string; expect?: number }
  | { kind: 'postgres' }
  | { kind: 'redis' }

/** A registry row: `project` + `service` (+ `protocol`) own `port` on `host`. */
export interface Allocation {
  id: number
  host: string
  project: string
  service: string
  protocol: Protocol
  port: number
  createdAt: string
  healthStatus: HealthStatus
  lastCheckedAt: string | null
  /** The last health check's finding, in words. */
  healthDetail: string | null
  healthCheck: HealthCheckSpec | null
  /** The process serving the port, when `run` started it. */
  pid: number | null
  /** The worktree directory the allocation was made from; its processes own the port. */
  worktree: string | null
}

export type NewAllocation = Pick<Allocation, 'project' | 'service' | 'protocol' | 'port'> &
  Partial<Pick<Allocation, 'healthCheck' | 'pid' | 'worktree'>>

export interface AllocationFilter {
  project?: string
  service?: string
  protocol?: Protocol
  port?: number
}

/** The reads and writes that an allocation makes while it holds the registry's write lock. */
export interface RegistryTransaction {
  findService(project: string, service: string, protocol: Protocol): Promise<Allocation | null>
  findPort(protocol: Protocol, port: number): Promise<Allocation | null>
  takenPorts(protocol: Protocol, from: number, to: number): Promise<Set<number>>
  insert(row: NewAllocation): Promise<Allocation>
  /** Records the process serving an allocation (`alloc --pid` adopting a running service). */
  recordPid(id: number, pid: number): Promise<Allocation>
}

/**
 * Where allocations live: an SQLite file on this host, or a PostgreSQL database shared by many
 * hosts. Every method scopes to `host`. Writes that choose a port run inside `write`, which
 * holds an exclusive lock for its whole callback, so concurrent callers never get the same port.
 */
export interface RegistryStore {
  readonly kind: 'sqlite' | 'postgres'
  /** The file path, or the URL without its password. */
  readonly location: string
  readonly host: string
  write<T>(work: (tx: RegistryTransaction) => Promise<T>): Promise<T>
  list(filter?: AllocationFilter): Promise<Allocation[]>
  /** Allocated ports in from..to, read without the write lock (a choice made from it is re-checked under it). */
  takenPorts(protocol: Protocol, from: number, to: number): Promise<Set<number>>
  /** Deletes the matching rows and returns them. */
  remove(filter: AllocationFilter): Promise<Allocation[]>
  recordHealth(
    id: number,
    status: HealthStatus,
    detail: string | null,
    checkedAt: string,
  ): Promise<void>
  close(): Promise<void>
}
