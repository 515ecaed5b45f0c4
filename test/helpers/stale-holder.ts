/**
 * The stale-holder fixture (test/fixtures/stale-holder.py) as a test starts it: in its own process
 * group (an orphan it makes stays in it), READY and LAUNCHER lines read, and every group started
 * killed by `stopStaleHolders` (afterEach).
 */
import type { ChildProcess } from 'node:child_process'
import { execFileSync, spawn } from 'node:child_process'
import { mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { FIXTURES, PYTHON } from './processes.js'

export interface StaleHolder {
  pid: number
  port: number
  /** With `--orphan --launcher`: the orphaned launcher whose child holds the port. */
  launcher: number | null
}

const started: ChildProcess[] = []

export async function holdStale(
  args: readonly string[],
  options: { cwd: string; exe?: string },
): Promise<StaleHolder> {
  const child = spawn(options.exe ?? PYTHON, [`${FIXTURES}stale-holder.py`, ...args], {
    cwd: options.cwd,
    detached: true,
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  started.push(child)
  const lines = createInterface({ input: child.stdout as NonNullable<typeof child.stdout> })
  let launcher: number | null = null
  return new Promise((resolve, reject) => {
    child.once('close', (code) => reject(new Error(`stale holder exited (${code})`)))
    lines.on('line', (line) => {
      try {
        const launched = /^LAUNCHER (.*)$/.exec(line)
        if (launched) launcher = (JSON.parse(launched[1] as string) as { pid: number }).pid
        const ready = /^READY (.*)$/.exec(line)
        if (ready) resolve({ ...(JSON.parse(ready[1] as string) as StaleHolder), launcher })
      } catch {
        reject(new Error(`stale holder printed a line that is not READY/LAUNCHER JSON: ${line}`))
      }
    })
  })
}

/** Kills every group `holdStale` started (the orphans too) and waits for the direct children. */
export async function stopStaleHolders(): Promise<void> {
  await Promise.all(
    started.splice(0).map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve()
          child.once('close', () => resolve())
          try {
            process.kill(-(child.pid as number), 'SIGKILL')
          } catch {
            resolve()
          }
        }),
    ),
  )
}

/** Running and not a zombie. */
export function isAlive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) [ZX] /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return false
  }
}

export function git(cwd: string, ...args: string[]): void {
  execFileSync('git', ['-c', 'user.email=t@example.com', '-c', 'user.name=t', ...args], {
    cwd,
    stdio: 'ignore',
  })
}

let repos = 0
/** A repository under `root` with one linked worktree per name (`NAME-N`); their directories. */
export function makeWorktrees(root: string, ...names: string[]): { main: string; dirs: string[] } {
  const main = join(root, `repo-${++repos}`)
  mkdirSync(main)
  git(main, 'init', '-q')
  git(main, 'commit', '-q', '--allow-empty', '-m', 'init')
  const dirs = names.map((name) => {
    const dir = join(root, `${name}-${repos}`)
    git(main, 'worktree', 'add', '-q', dir)
    return dir
  })
  return { main, dirs }
}
