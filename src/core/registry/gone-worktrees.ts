/**
 * Allocations whose worktree is gone: the registry follows git worktrees, and a worktree that was
 * removed (`git worktree remove`, `rm -rf`) leaves its rows behind, holding ports for nobody.
 */
import { statSync } from 'node:fs'
import type { Allocation, RegistryStore } from './types.js'

/** The allocation recorded a worktree, and no directory is there any more. */
export function worktreeGone(allocation: Allocation): boolean {
  if (allocation.worktree === null) return false
  try {
    return !statSync(allocation.worktree).isDirectory()
  } catch (error) {
    // Only "not there" is gone; a directory we may not look into still exists.
    const code = (error as NodeJS.ErrnoException).code
    return code === 'ENOENT' || code === 'ENOTDIR'
  }
}

/** Releases every allocation (of `project`, or all) whose worktree is gone, and returns them. */
export async function releaseGoneWorktrees(
  store: RegistryStore,
  options: { project?: string } = {},
): Promise<Allocation[]> {
  const rows = await store.list(options.project === undefined ? {} : { project: options.project })
  const released: Allocation[] = []
  for (const row of rows.filter(worktreeGone)) {
    released.push(
      ...(await store.remove({
        project: row.project,
        service: row.service,
        protocol: row.protocol,
      })),
    )
  }
  return released
}
