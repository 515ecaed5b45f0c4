import type { Protocol } from '../types.js'
import type { Allocation, HealthCheckSpec, HealthStatus } from './types.js'

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
    return typeof value === 'object' && value !== null && typeof value.kind === 'string' ? value : null
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
