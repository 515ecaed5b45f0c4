import { existsSync } from 'node:fs'
import { formatEndpoint } from '../addresses.js'
import { describeHolders } from '../messages.js'
import { exactPorts } from '../port-spec.js'
import { isDescendantOf } from '../process/read-process.js'
import { listSockets } from '../sockets/list-sockets.js'
import type { SocketScan } from '../sockets/list-sockets.js'
import { listenersOn } from '../sockets/query.js'
import type { Protocol, SocketEntry, Warning } from '../types.js'
import { judgeHolding, whyUnjudged } from './ownership.js'
import type { Allocation } from './types.js'

export type ConflictKind = 'registry_conflict' | 'system_conflict' | 'allocation_mismatch'

/** An allocation as conflict detection sees it: from the registry, or from an imported file. */
export interface AllocationClaim {
  project: string
  service: string
  protocol: Protocol
  port: number
  /** `registry`, or the path of the file it was imported from. */
  source: string
  pid: number | null
  worktree: string | null
  /** For an imported claim: its index in the file's `allocations` array. */
  entry: number | null
}

export interface Conflict {
  kind: ConflictKind
  protocol: Protocol
  port: number
  claims: AllocationClaim[]
  /** For a system conflict: the outside sockets holding the port. */
  holders: SocketEntry[]
  message: string
  /** A command that resolves it. */
  resolution: string
  /**
   * False for a system conflict whose holder cannot be judged (nothing recorded to judge by, or
   * /proc hides it): the port is held, and it may or may not be by the service.
   */
  verified: boolean
}

export interface ConflictReport {
  conflicts: Conflict[]
  summary: {
    registry_conflict: number
    system_conflict: number
    allocation_mismatch: number
    allocations: number
  }
  warnings: Warning[]
}

export function claimFromAllocation(allocation: Allocation): AllocationClaim {
  return {
    project: allocation.project,
    service: allocation.service,
    protocol: allocation.protocol,
    port: allocation.port,
    source: 'registry',
    pid: allocation.pid,
    worktree: allocation.worktree,
    entry: null,
  }
}

const owner = (claim: AllocationClaim) => `${claim.service} of ${claim.project}`
const label = (protocol: Protocol, port: number) => `${protocol.toUpperCase()} port ${port}`
const imported = (claim: AllocationClaim) => claim.source !== 'registry'
const sameService = (a: AllocationClaim, b: AllocationClaim) =>
  a.project === b.project && a.service === b.service && a.protocol === b.protocol
/** `allocations[1] (web of feature-search, port 8080)`: an imported claim, by its place in its file. */
const fileEntry = (claim: AllocationClaim) =>
  `allocations[${claim.entry ?? '?'}] (${owner(claim)}, port ${claim.port})`

/** `release` + `alloc` of a registry row: it gets a new port. */
function moveCommand(claim: AllocationClaim): string {
  const flags = `--project ${shellWord(claim.project)}${claim.protocol === 'udp' ? ' --udp' : ''}`
  return `portwarden release ${shellWord(claim.service)} ${flags} && portwarden alloc ${shellWord(claim.service)} ${flags}`
}

/**
 * How to take `claim` off a port another claim keeps. An imported file is only read, so its
 * entry is to be edited there; a command would act on the registry, whose row for the same
 * service (if any) is another allocation, not this claim.
 */
function moveOff(claim: AllocationClaim, claims: readonly AllocationClaim[]): string {
  if (!imported(claim)) return moveCommand(claim)
  const registered = claims.find((c) => !imported(c) && sameService(c, claim))
  const where = registered
    ? `the registry has port ${registered.port} for it`
    : '`portwarden find` lists free ones'
  return `edit ${claim.source}: give ${fileEntry(claim)} another port (${where}), or drop that entry`
}

/**
 * The three ways the registry and reality disagree: one port claimed twice, an allocated port
 * held by a process outside the project, an allocated port nothing listens on.
 */
export async function detectConflicts(
  claims: readonly AllocationClaim[],
  options: {
    procRoot?: string
    /** A scan of (at least) the listening sockets on the claimed ports, made already. */
    inventory?: SocketScan
  } = {},
): Promise<ConflictReport> {
  const byPort = new Map<string, AllocationClaim[]>()
  for (const claim of claims) {
    const key = `${claim.protocol}:${claim.port}`
    byPort.set(key, [...(byPort.get(key) ?? []), claim])
  }
  const conflicts: Conflict[] = []
  for (const group of byPort.values()) {
    const twice = claimedTwice(group, claims)
    if (twice) conflicts.push(twice)
  }
  const specs = exactPorts([...byPort.values()].map((group) => group[0] as AllocationClaim))
  const inventory =
    options.inventory ??
    (specs.length
      ? await listSockets({ all: true, ports: specs, procRoot: options.procRoot })
      : { sockets: [], warnings: [] })
  for (const group of byPort.values()) {
    const first = group[0] as AllocationClaim
    const sockets = listenersOn(inventory.sockets, first.protocol, first.port)
    for (const claim of group) {
      const found =
        sockets.length === 0
          ? nothingListening(claim)
          : heldByAnother(claim, sockets, options.procRoot)
      if (found) conflicts.push(found)
    }
  }
  const order: Record<ConflictKind, number> = {
    registry_conflict: 0,
    system_conflict: 1,
    allocation_mismatch: 2,
  }
  conflicts.sort((a, b) => order[a.kind] - order[b.kind] || a.port - b.port)
  return {
    conflicts,
    summary: {
      registry_conflict: conflicts.filter((c) => c.kind === 'registry_conflict').length,
      system_conflict: conflicts.filter((c) => c.kind === 'system_conflict').length,
      allocation_mismatch: conflicts.filter((c) => c.kind === 'allocation_mismatch').length,
      allocations: claims.length,
    },
    warnings: inventory.warnings,
  }
}

/** A REGISTRY CONFLICT: one port claimed by two or more services (`group` shares the port). */
function claimedTwice(
  group: readonly AllocationClaim[],
  claims: readonly AllocationClaim[],
): Conflict | null {
  const distinct = new Set(group.map((c) => `${c.project}\0${c.service}`))
  if (distinct.size < 2) return null
  const first = group[0] as AllocationClaim
  // The registry's row stays: it is what `alloc` handed out. Among imported claims, the first.
  const keep = group.find((c) => !imported(c)) ?? first
  const others = group.filter((c) => !sameService(c, keep))
  return {
    kind: 'registry_conflict',
    protocol: first.protocol,
    port: first.port,
    claims: [...group],
    holders: [],
    verified: true,
    message: `${label(first.protocol, first.port)} is allocated ${group.length} times: ${group.map((c) => `${owner(c)} (${c.source})`).join(', ')}`,
    resolution: others.map((c) => moveOff(c, claims)).join('; '),
  }
}

/** An allocated port nothing listens on. */
function nothingListening(claim: AllocationClaim): Conflict {
  return {
    kind: 'allocation_mismatch',
    protocol: claim.protocol,
    port: claim.port,
    claims: [claim],
    holders: [],
    verified: true,
    message: `${label(claim.protocol, claim.port)} is allocated to ${owner(claim)}, but nothing is listening on it`,
    resolution: imported(claim)
      ? `start ${owner(claim)}, or, if it is gone for good, drop ${fileEntry(claim)} from ${claim.source}`
      : `portwarden run ${shellWord(claim.service)}   # or, if it is gone for good: portwarden release ${shellWord(claim.service)} --project ${shellWord(claim.project)}`,
  }
}

/** A SYSTEM CONFLICT: the allocated port is held by a process that is not (or may not be) the service. */
function heldByAnother(
  claim: AllocationClaim,
  sockets: readonly SocketEntry[],
  procRoot: string | undefined,
): Conflict | null {
  const { foreign, unverified } = judgeHolding(claim, sockets, procRoot)
  const holders = foreign.length > 0 ? foreign : unverified
  if (holders.length === 0) return null
  const since = holders[0]?.processes[0]?.startedAt
  const held =
    `${label(claim.protocol, claim.port)} is allocated to ${owner(claim)}${imported(claim) ? ` (${claim.source})` : ''}, ` +
    `but ${describeHolders(holders)} holds it on ` +
    `${holders.map((s) => formatEndpoint(s.localAddress, s.localPort)).join(' and ')}${since ? ` since ${since}` : ''}`
  const moveAway = imported(claim)
    ? `give ${fileEntry(claim)} in ${claim.source} another port`
    : moveCommand(claim)
  const free = `portwarden free ${claim.port}/${claim.protocol}`
  const adopt = adoptionFor(claim, holders, procRoot)
  return {
    kind: 'system_conflict',
    protocol: claim.protocol,
    port: claim.port,
    claims: [claim],
    holders,
    verified: foreign.length > 0,
    message:
      foreign.length > 0
        ? held
        : `${held}; unverified: ${whyUnverified(claim, holders)}, so whether it is ${claim.service} cannot be told`,
    resolution:
      foreign.length > 0
        ? `${free}   # or${adopt ? `, if pid ${adopt.pid} is ${claim.service} after all: ${adopt.command}; or` : ''} move the service: ${moveAway}`
        : `${checkHolder(claim, holders)}; ${adopt ? `if it is: ${adopt.command}; ` : ''}if it is not: ${free}   # or move the service: ${moveAway}`,
  }
}

/** Why the holder of an allocated port cannot be judged. */
function whyUnverified(claim: AllocationClaim, holders: readonly SocketEntry[]): string {
  return imported(claim) && claim.pid === null && claim.worktree === null
    ? `${claim.source} records no pid or worktree path for it`
    : whyUnjudged(claim, holders)
}

const holderPids = (holders: readonly SocketEntry[]) => [
  ...new Set(holders.flatMap((s) => s.processes.map((p) => p.pid))),
]

/** The first step for an unverified holder: see whether it is the service. */
function checkHolder(claim: AllocationClaim, holders: readonly SocketEntry[]): string {
  const pids = holderPids(holders)
  if (pids.length === 0)
    return `see who holds it (\`portwarden who ${claim.port}/${claim.protocol}\`, as root) and whether that is ${owner(claim)}`
  return `check whether ${pids.length === 1 ? 'pid' : 'pids'} ${pids.join(', ')} ${pids.length === 1 ? 'is' : 'are'} ${owner(claim)}`
}

/**
 * `alloc --pid` recording the holder as the service, when it may be: the holders are one visible
 * process tree (all descend from one of them) and no pid recorded for the service still runs.
 * Not for an imported claim: that would write a registry row the file does not know of.
 */
function adoptionFor(
  claim: AllocationClaim,
  holders: readonly SocketEntry[],
  procRoot = '/proc',
): { pid: number; command: string } | null {
  if (imported(claim) || holders.some((s) => s.processes.length === 0)) return null
  if (claim.pid !== null && existsSync(`${procRoot}/${claim.pid}`)) return null
  const pids = holderPids(holders)
  const root = pids.find((candidate) => pids.every((p) => isDescendantOf(p, candidate, procRoot)))
  if (root === undefined) return null
  const udp = claim.protocol === 'udp' ? ' --udp' : ''
  return {
    pid: root,
    command: `portwarden alloc ${shellWord(claim.service)} --project ${shellWord(claim.project)} --port ${claim.port}${udp} --pid ${root}`,
  }
}

/** Quotes a word for a copy-pasted shell command only when it needs it. */
export function shellWord(text: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`
}
