import type { ConflictReport } from '../../core/registry/conflicts.js'
import type { Allocation } from '../../core/registry/types.js'
import { displayName } from '../../core/messages.js'
import { renderTable, renderUptime } from './human.js'
import type { Style } from './style.js'

const HEALTH_LABEL = {
  unknown: 'unknown',
  healthy: 'healthy',
  unhealthy: 'UNHEALTHY',
  not_running: 'not running',
} as const

export function renderAllocations(
  allocations: readonly Allocation[],
  style: Style,
  context: { location: string },
): string {
  if (allocations.length === 0) return `No allocations in ${context.location}.`
  const colour = (a: Allocation) =>
    a.healthStatus === 'healthy'
      ? style.pass
      : a.healthStatus === 'unknown'
        ? (t: string) => t
        : style.fail
  const rows = allocations.map((a) => [
    displayName(a.project),
    displayName(a.service),
    `${a.port}/${a.protocol}`,
    colour(a)(HEALTH_LABEL[a.healthStatus]),
    a.lastCheckedAt ? `${renderUptime(a.lastCheckedAt)} ago` : '-',
    displayName(a.healthDetail ?? ''),
  ])
  return renderTable(
    [['PROJECT', 'SERVICE', 'PORT', 'HEALTH', 'CHECKED', 'DETAIL'], ...rows],
    undefined,
  )
}

const KIND_LABEL = {
  registry_conflict: 'REGISTRY CONFLICT',
  system_conflict: 'SYSTEM CONFLICT',
  allocation_mismatch: 'ALLOCATION MISMATCH',
} as const

export function renderConflicts(report: ConflictReport, style: Style): string {
  const lines: string[] = []
  for (const conflict of report.conflicts) {
    const tag =
      conflict.kind === 'allocation_mismatch'
        ? style.warn(KIND_LABEL[conflict.kind])
        : style.fail(KIND_LABEL[conflict.kind])
    const unverified = conflict.verified ? '' : style.warn(' (unverified)')
    lines.push(
      `${tag}${unverified}: ${displayName(conflict.message)}`,
      `  resolve: ${displayName(conflict.resolution)}`,
    )
  }
  const { summary } = report
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`
  const unverified = report.conflicts.filter((c) => !c.verified).length
  lines.push(
    `Summary: ${plural(summary.registry_conflict, 'registry conflict')}, ${plural(summary.system_conflict, 'system conflict')}${unverified ? ` (${unverified} unverified)` : ''}, ` +
      `${plural(summary.allocation_mismatch, 'allocation mismatch')}`.replace(
        /mismatchs/,
        'mismatches',
      ) +
      ` across ${plural(summary.allocations, 'allocation')}.`,
  )
  return lines.join('\n')
}
