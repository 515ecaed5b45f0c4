/**
 * The registry's state as `status` reports it, for every front end (the CLI's `status`, the MCP
 * server's `registry_status` and `health_check`): the allocations (optionally re-checked for
 * health), the conflicts with reality, and the allocations whose worktree is gone.
 */
import { checkHealth } from '../health/check-health.js'
import { goneWorktreesWarning } from '../messages.js'
import { exactPorts } from '../port-spec.js'
import { listSockets } from '../sockets/list-sockets.js'
import type { Warning } from '../types.js'
import type { AllocationClaim, ConflictReport } from './conflicts.js'
import { claimFromAllocation, detectConflicts } from './conflicts.js'
import { worktreeGone } from './gone-worktrees.js'
import type { Allocation, RegistryStore } from './types.js'

export interface RegistryStatusOptions {
  /** Where the registry is (or would be): reported even when there is no registry yet. */
  location: string
  project?: string
  /** Compare the allocations (and `imported`) with the socket tables. */
  checkConflicts?: boolean
  /** Re-check every service now and record the outcome. */
  healthCheck?: boolean
  /** Claims from another tool's file (`status --import`): conflicts are checked when given. */
  imported?: readonly AllocationClaim[]
}

export interface RegistryStatus {
  location: string
  allocations: Allocation[]
  /** Ids of the allocations whose recorded worktree no longer exists. */
  goneIds: Set<number>
  /** Null unless conflicts were asked for. */
  report: ConflictReport | null
  /** A health check found a service unhealthy or not running. */
  unhealthy: boolean
  warnings: Warning[]
}

/** `store` null: there is no registry yet, so nothing is allocated (and nothing is created). */
export async function registryStatus(
  store: RegistryStore | null,
  options: RegistryStatusOptions,
): Promise<RegistryStatus> {
  const imported = options.imported ?? []
  const warnings: Warning[] = []
  let allocations = store
    ? await store.list(options.project === undefined ? {} : { project: options.project })
    : []
  const wantConflicts = options.checkConflicts === true || imported.length > 0
  // Both asked for: one scan of the allocated ports serves both.
  const inventory =
    store && options.healthCheck && wantConflicts && allocations.length > 0
      ? await listSockets({ ports: exactPorts([...allocations, ...imported]) })
      : undefined
  if (store && options.healthCheck) {
    const checked = await checkHealth(store, { project: options.project, inventory })
    allocations = checked.results.map((r) => r.allocation)
    warnings.push(...checked.warnings)
  }
  const report = wantConflicts
    ? await detectConflicts(
        [
          ...allocations.map(claimFromAllocation),
          ...imported.filter((c) => options.project === undefined || c.project === options.project),
        ],
        { inventory },
      )
    : null
  // A shared scan's warnings came with the health check already.
  if (report && !inventory) warnings.push(...report.warnings)
  const unhealthy =
    options.healthCheck === true &&
    allocations.some((a) => a.healthStatus === 'unhealthy' || a.healthStatus === 'not_running')
  // One stat per recorded worktree, for the warning and the JSON alike.
  const gone = allocations.filter(worktreeGone)
  if (gone.length > 0) warnings.push({ code: 'worktree_gone', message: goneWorktreesWarning(gone) })
  return {
    location: options.location,
    allocations,
    goneIds: new Set(gone.map((a) => a.id)),
    report,
    unhealthy,
    warnings,
  }
}
