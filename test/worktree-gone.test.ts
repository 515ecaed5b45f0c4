/**
 * Issue 14 item 3: the registry follows git worktrees. A worktree removed with
 * `git worktree remove --force` leaves its allocation behind: `status` marks it, and
 * `release --gone` releases exactly those rows (another worktree's stay).
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { parseJson } from './helpers/cli.js'
import { runCliIn } from './helpers/registry.js'
import { removeTempDirs, tempDir } from './helpers/temp-dirs.js'

const root = tempDir('pw-gone-')
afterAll(removeTempDirs)

function git(cwd: string, ...args: string[]): void {
  execFileSync('git', ['-c', 'user.email=t@example.com', '-c', 'user.name=t', ...args], {
    cwd,
    stdio: 'ignore',
  })
}

interface StatusJson {
  allocations: { project: string; service: string; port: number; worktree_gone: boolean }[]
}

describe('allocations of removed worktrees', () => {
  it('status marks them; release --gone releases exactly them; nothing gone is exit 0', async () => {
    const main = join(root, 'shop')
    mkdirSync(main)
    git(main, 'init', '-q')
    writeFileSync(join(main, 'README'), 'x\n')
    git(main, 'add', '.')
    git(main, 'commit', '-qm', 'init')
    const kept = join(root, 'feature-kept')
    const removed = join(root, 'feature-gone')
    git(main, 'worktree', 'add', '-q', kept)
    git(main, 'worktree', 'add', '-q', removed)
    const registry = join(root, 'registry.db')
    for (const dir of [kept, removed]) {
      const alloc = await runCliIn(dir, ['alloc', 'web', '--registry', registry, '--json'])
      expect(alloc.code, alloc.stderr).toBe(0)
    }
    git(main, 'worktree', 'remove', '--force', removed)

    const status = await runCliIn(root, ['status', '--registry', registry, '--json'])
    expect(status.code, status.stderr).toBe(0)
    const gone = Object.fromEntries(
      parseJson<StatusJson>(status).allocations.map((a) => [a.project, a.worktree_gone]),
    )
    expect(gone).toEqual({ 'feature-kept': false, 'feature-gone': true })
    expect(status.stderr).toContain(
      'an allocation belongs to a worktree that no longer exists: web of feature-gone',
    )
    expect(status.stderr).toContain('`portwarden release --gone` releases it')

    const released = await runCliIn(root, ['release', '--gone', '--registry', registry, '--json'])
    expect(released.code, released.stderr).toBe(0)
    expect(
      parseJson<{ released: { project: string }[] }>(released).released.map((a) => a.project),
    ).toEqual(['feature-gone'])
    const after = parseJson<StatusJson>(
      await runCliIn(root, ['status', '--registry', registry, '--json']),
    )
    expect(after.allocations.map((a) => a.project)).toEqual(['feature-kept'])

    const again = await runCliIn(root, ['release', '--gone', '--registry', registry])
    expect(again.code).toBe(0)
    expect(again.stderr).toContain('nothing to release: every recorded worktree still exists')

    const wrong = await runCliIn(root, ['release', 'web', '--gone', '--registry', registry])
    expect(wrong.code).toBe(2)
    expect(wrong.stderr).toContain('--gone releases whole worktrees')
  })
})
