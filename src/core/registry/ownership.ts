import { readlinkSync } from 'node:fs'
import { sep } from 'node:path'
import { isDescendantOf } from '../process/read-process.js'
import type { Holder } from '../types.js'
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
