import { readlinkSync } from 'node:fs'
import { sep } from 'node:path'
import { isDescendantOf } from '../process/read-process.js'
import type { Holder, SocketEntry } from '../types.js'
import type { Allocation } from './types.js'

export type Ownership = 'owned' | 'foreign' | 'unknown'

/**
 * Does this process serve the allocation? Yes when it is the recorded pid or one of its
 * descendants, or when it runs inside the allocation's worktree. Without either record, or
 * when /proc hides the answer, we cannot tell.
 */
export function judgeOwnership(
  allocation: Pick<Allocation, 'pid' | 'worktree'>,
  holder: Holder,
  procRoot = '/proc',
): Ownership {
  if (allocation.pid === null && allocation.worktree === null) return 'unknown'
  if (allocation.pid !== null && isDescendantOf(holder.pid, allocation.pid, procRoot))
    return 'owned'
  if (allocation.worktree !== null) {
    let cwd: string
    try {
      cwd = readlinkSync(`${procRoot}/${holder.pid}/cwd`)
    } catch {
      return allocation.pid === null ? 'unknown' : 'foreign'
    }
    const root = allocation.worktree.endsWith(sep) ? allocation.worktree : allocation.worktree + sep
    if (cwd === allocation.worktree || cwd.startsWith(root)) return 'owned'
  }
  return 'foreign'
}

/** The sockets on an allocated port, sorted by who holds them. */
export interface PortHolding {
  /** A process of the allocation holds it (the recorded pid or a child, or one in the worktree). */
  owned: SocketEntry[]
  /** Every process holding it is outside the allocation. */
  foreign: SocketEntry[]
  /** Its holder cannot be judged: nothing recorded to judge by, or /proc hides the process. */
  unverified: SocketEntry[]
}

/**
 * One rule for every report (conflicts, health): a socket is the allocation's when one of its
 * processes is, foreign when all of them are outside it, else unverified.
 */
export function judgeHolding(
  allocation: Pick<Allocation, 'pid' | 'worktree'>,
  sockets: readonly SocketEntry[],
  procRoot?: string,
): PortHolding {
  const holding: PortHolding = { owned: [], foreign: [], unverified: [] }
  for (const socket of sockets) {
    const verdicts = socket.processes.map((holder) => judgeOwnership(allocation, holder, procRoot))
    if (verdicts.includes('owned')) holding.owned.push(socket)
    else if (verdicts.length > 0 && verdicts.every((v) => v === 'foreign'))
      holding.foreign.push(socket)
    else holding.unverified.push(socket)
  }
  return holding
}

/** Why a process is not the allocation's: `not pid 42 or a child of it, not running in /src/wt`. */
export function outsideWhat(allocation: Pick<Allocation, 'pid' | 'worktree'>): string {
  const parts: string[] = []
  if (allocation.pid !== null) parts.push(`not pid ${allocation.pid} or a child of it`)
  if (allocation.worktree !== null) parts.push(`not running in ${allocation.worktree}`)
  return parts.join(', ')
}

/** Why `unverified` sockets cannot be judged: `the allocation records neither ...`. */
export function whyUnjudged(
  allocation: Pick<Allocation, 'pid' | 'worktree'>,
  unverified: readonly SocketEntry[],
): string {
  if (allocation.pid === null && allocation.worktree === null)
    return 'the allocation records neither the pid of the service nor its worktree'
  if (unverified.some((s) => s.processes.length === 0)) return 'its process cannot be inspected'
  return 'the working directory of its process cannot be read'
}
