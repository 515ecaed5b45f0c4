import type { Protocol } from '../types.js'
import type { Allocation, AllocationFilter, HealthCheckSpec, HealthStatus } from './types.js'

/** A row as both SQL backends return it. */
export interface AllocationRow {
  id: number | string
  host: string
  project: string
  service: string
  protocol: string
  port: number
  created_at: string | Date
  health_status: string
  last_checked_at: string | Date | null
  health_detail: string | null
  health_check: string | null
  pid: number | null
  worktree: string | null
}

function isoText(value: string | Date | null): string | null {
  if (value === null) return null
  return (value instanceof Date ? value.toISOString() : value).replace(/\.\d{3}Z$/, 'Z')
}

function parseHealthCheck(text: string | null): HealthCheckSpec | null {
  if (!text) return null
  try {
    const value = JSON.parse(text) as HealthCheckSpec
    return typeof value === 'object' && value !== null && typeof value.kind === 'string'
      ? value
      : null
  } catch {
    return null // written by something else: the check falls back to a TCP connect
  }
}

export function rowToAllocation(row: AllocationRow): Allocation {
  return {
    id: Number(row.id),
    host: row.host,
    project: row.project,
    service: row.service,
    protocol: row.protocol as Protocol,
    port: row.port,
    createdAt: isoText(row.created_at) ?? '',
    healthStatus: row.health_status as HealthStatus,
    lastCheckedAt: isoText(row.last_checked_at),
    healthDetail: row.health_detail,
    healthCheck: parseHealthCheck(row.health_check),
    pid: row.pid,
    worktree: row.worktree,
  }
}

/** The columns every query reads, in the order `AllocationRow` names them. */
export const ALLOCATION_COLUMNS =
  'id, host, project, service, protocol, port, created_at, health_status, last_checked_at, health_detail, health_check, pid, worktree'

/** `host = ? AND project = ? ...` for a filter; `placeholder(n)` spells the n-th parameter (1-based). */
export function filterClause(
  host: string,
  filter: AllocationFilter,
  placeholder: (index: number) => string,
): { where: string; params: unknown[] } {
  const params: unknown[] = [host]
  const clauses = [`host = ${placeholder(1)}`]
  for (const [column, value] of [
    ['project', filter.project],
    ['service', filter.service],
    ['protocol', filter.protocol],
    ['port', filter.port],
  ] as const) {
    if (value === undefined) continue
    params.push(value)
    clauses.push(`${column} = ${placeholder(params.length)}`)
  }
  return { where: clauses.join(' AND '), params }
}
