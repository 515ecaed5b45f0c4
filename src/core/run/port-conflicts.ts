/**
 * `run`'s gate: which of a service's ports someone else has right now (a process, or the
 * registry giving it to another project), and the refusal that names them. The manifest-wide
 * report with fixes is `preflight` (core/preflight.ts), which `preflight` and `doctor` print.
 */
import { checkPorts } from '../check-port.js'
import { publisherName } from '../containers/published-ports.js'
import type { CheckOptions, PortCheck } from '../check-port.js'
import { PortwardenError } from '../errors.js'
import { displayName, hiddenHolderReason } from '../messages.js'
import { judgeOwnership } from '../registry/ownership.js'
import type { Allocation, RegistryStore } from '../registry/types.js'
import type { Holder, Protocol, SocketEntry } from '../types.js'
import { toJsonAllocation, toJsonSocket } from '../wire.js'
import type { RunPort } from './run-env.js'
import { formatRunPort, formatRunPorts } from './run-env.js'

/** A declared port that someone else has: a process holds it, or the registry gives it away. */
export interface PortConflict {
  port: number
  protocol: Protocol
  /**
   * `in_use`: a socket table names the holder; `bind_failed`: only a bind test saw it;
   * `allocated`: nothing holds it, but the registry allocates it to another project/service.
   */
  reason: 'in_use' | 'bind_failed' | 'allocated'
  /** Who stands in the way, as the sentence names them: `web_server (pid 11)`, `python3 (pid 812)`. */
  owners: string[]
  holders: SocketEntry[]
  /** The registry's row for this port, when there is one. */
  allocation: Allocation | null
}

export interface PortConflictOptions {
  /** Who is asking: allocations of this project+service are ours, not conflicts. */
  project: string
  service: string
  /** The registry, to name owners by service and to honour allocations; null to skip it. */
  store?: RegistryStore | null
  procRoot?: string
  backend?: CheckOptions['backend']
}

/**
 * Can a service take these ports right now? Every port is checked on every address (socket
 * tables and bind tests, as `check` does) and against the registry.
 */
export async function preflightPorts(
  ports: readonly RunPort[],
  options: PortConflictOptions,
): Promise<PortConflict[]> {
  if (ports.length === 0) return []
  const specs = ports.map((p) => ({ from: p.port, to: p.port, protocol: p.protocol }))
  const checkOptions = { procRoot: options.procRoot, backend: options.backend }
  const checks = await checkPorts(specs, checkOptions)
  // Two answers are uncertain: a bind test that failed while the tables showed nobody, and a
  // socket whose holder we could not find. Both are often a moment caught in passing: a service
  // that began to listen between our two looks (another `run` starting now), or the brief bind
  // test of another `run`'s preflight, closed before we looked for its owner. Look again, a few
  // times: what persists is real. (A real out-of-sight holder persists, and is reported.)
  for (let attempt = 0; attempt < 4 && checks.some(uncertain); attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 40))
    const again = await checkPorts(specs, checkOptions)
    checks.forEach((check, index) => {
      const fresh = again[index]
      if (fresh && uncertain(check)) checks[index] = fresh
    })
  }
  const allocations = await allocationsFor(ports, options.store ?? null)
  const conflicts: PortConflict[] = []
  for (const [index, check] of checks.entries()) {
    const allocation = allocations.get(`${check.protocol}:${check.port}`) ?? null
    const name = ports[index]?.name
    const ours =
      allocation !== null &&
      allocation.project === options.project &&
      (allocation.service === options.service || allocation.service === name)
    if (!check.free) {
      conflicts.push({
        port: check.port,
        protocol: check.protocol,
        reason: check.reason === 'bind_failed' ? 'bind_failed' : 'in_use',
        owners:
          check.reason === 'published'
            ? check.publishers.map(publisherName)
            : describeOwners(check.holders, allocation, options.procRoot),
        holders: check.holders,
        allocation,
      })
    } else if (allocation !== null && !ours) {
      conflicts.push({
        port: check.port,
        protocol: check.protocol,
        reason: 'allocated',
        owners: [
          `${displayName(allocation.service)} of project ${displayName(allocation.project)}`,
        ],
        holders: [],
        allocation,
      })
    }
  }
  return conflicts
}

function uncertain(check: PortCheck): boolean {
  if (check.free || check.reason === 'published') return false
  return (
    check.reason === 'bind_failed' || check.holders.every((socket) => socket.processes.length === 0)
  )
}

async function allocationsFor(
  ports: readonly RunPort[],
  store: RegistryStore | null,
): Promise<Map<string, Allocation>> {
  const found = new Map<string, Allocation>()
  if (!store) return found
  for (const port of ports) {
    const [allocation] = await store.list({ port: port.port, protocol: port.protocol })
    if (allocation) found.set(`${port.protocol}:${port.port}`, allocation)
  }
  return found
}

/**
 * `web_server (pid 11)` when the registry allocates the port and the holder serves that
 * allocation (or we cannot tell otherwise); the process name (`python3 (pid 812)`) for an
 * outside holder; the owning uid when the process is out of sight.
 */
export function describeOwners(
  sockets: readonly SocketEntry[],
  allocation: Allocation | null,
  procRoot?: string,
): string[] {
  const byName = new Map<string, number[]>()
  for (const holder of uniqueHolders(sockets)) {
    const served = allocation !== null && judgeOwnership(allocation, holder, procRoot) !== 'foreign'
    const name = displayName(served ? (allocation as Allocation).service : holder.name)
    byName.set(name, [...(byName.get(name) ?? []), holder.pid])
  }
  if (byName.size > 0) {
    return [...byName].map(([name, pids]) => {
      const sorted = [...new Set(pids)].sort((a, b) => a - b)
      return `${name} (${sorted.length === 1 ? 'pid' : 'pids'} ${sorted.join(', ')})`
    })
  }
  if (sockets.length > 0) {
    const who = allocation ? `${displayName(allocation.service)}, ` : ''
    const owners = new Map(sockets.map((s) => [s.uid, displayName(s.user)]))
    return [...owners].map(
      ([uid, user]) => `${who}a process of uid ${uid} (${user}) that ${hiddenHolderReason([uid])}`,
    )
  }
  if (allocation) return [`${displayName(allocation.service)} (process not visible)`]
  return [
    'a socket no table shows (bind test failed: bound without listen(), or another network namespace)',
  ]
}

function uniqueHolders(sockets: readonly SocketEntry[]): Holder[] {
  const seen = new Map<number, Holder>()
  for (const socket of sockets)
    for (const holder of socket.processes) if (!seen.has(holder.pid)) seen.set(holder.pid, holder)
  return [...seen.values()]
}

/**
 * `port conflict on 8080, 9000: already in use by web_server (pid 11), postgres (pid 12)`;
 * ports the registry gives to someone else add `; allocated to api of project shop`.
 */
export function conflictSentence(conflicts: readonly PortConflict[]): string {
  const used = conflicts.filter((c) => c.reason !== 'allocated')
  const allocated = conflicts.filter((c) => c.reason === 'allocated')
  const parts: string[] = []
  if (used.length > 0)
    parts.push(`already in use by ${unique(used.flatMap((c) => c.owners)).join(', ')}`)
  if (allocated.length > 0) {
    const owners = unique(allocated.flatMap((c) => c.owners)).join(', ')
    parts.push(
      `${used.length > 0 ? `${formatRunPorts(allocated)} is ` : ''}allocated to ${owners} in the registry`,
    )
  }
  return `port conflict on ${formatRunPorts(conflicts)}: ${parts.join('; ')}`
}

/** The error `run` ends with on a conflict: exit 1, `port_in_use`, the sentence and what to do. */
export function conflictError(
  conflicts: readonly PortConflict[],
  before?: string,
): PortwardenError {
  const held = conflicts.filter((c) => c.reason !== 'allocated')
  const allocated = conflicts.filter((c) => c.reason === 'allocated')
  const hints: string[] = before ? [before] : []
  if (held.length > 0) {
    const specs = held.map((c) => `${c.port}/${c.protocol}`).join(' ')
    hints.push(
      `See who holds it: portwarden who ${specs}; stop it: portwarden free ${specs}; or declare another port.`,
    )
  }
  for (const c of allocated) {
    const owner = c.allocation
    if (owner) {
      hints.push(
        `${formatRunPort(c)} belongs to ${owner.service} of project ${owner.project} (portwarden status); release it there with: portwarden release ${owner.service} --project ${owner.project}`,
      )
    }
  }
  const first = held[0]?.holders[0]
  const holder = first?.processes[0]
  return new PortwardenError(
    held.length > 0 ? 'port_in_use' : 'port_allocated',
    conflictSentence(conflicts),
    {
      hint: hints.join('\n'),
      details: {
        port: conflicts[0]?.port,
        protocol: conflicts[0]?.protocol,
        process: holder?.name ?? null,
        pid: holder?.pid ?? null,
        conflicts: conflicts.map((c) => ({
          port: c.port,
          protocol: c.protocol,
          reason: c.reason,
          owners: c.owners,
          holders: c.holders.map(toJsonSocket),
          allocation: c.allocation ? toJsonAllocation(c.allocation) : null,
        })),
      },
    },
  )
}

function unique(items: readonly string[]): string[] {
  return [...new Set(items)]
}
