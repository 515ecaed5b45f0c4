/**
 * Issue 13 item 3: `prune` stops the project's stale leftovers and nothing else, on real
 * processes in real git worktrees: the stale orphan and its tree (children before the holder,
 * its orphaned launcher after it), a foreign holder and an in-use holder left alone, `--dry-run`
 * signals nothing, no TTY without `--yes` refuses, `--release-gone` releases exactly the gone
 * worktrees' allocations.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { parseJson } from './helpers/cli.js'
import { runCliIn } from './helpers/registry.js'
import type { StaleHolder } from './helpers/stale-holder.js'
import { git, holdStale, isAlive, makeWorktrees, stopStaleHolders } from './helpers/stale-holder.js'
import { removeTempDirs, tempDir } from './helpers/temp-dirs.js'
import { startTicks } from './run-helpers.js'

const root = tempDir('pw-prune-')
afterAll(removeTempDirs)
afterEach(stopStaleHolders)

const hold = (args: string[], cwd: string): Promise<StaleHolder> => holdStale(args, { cwd })
const alive = isAlive
const worktrees = (...names: string[]) => makeWorktrees(root, ...names)

interface PruneJson {
  dry_run: boolean
  outcome: string
  project: string
  candidates: {
    pid: number
    decision: string
    verdict: string
    ours: string | null
    tree: { below: number[]; above: number[] }
  }[]
  release?: { project: string; service: string }[]
  released?: { project: string; service: string }[]
  tree?: { pid: number; of: number; outcome: string }[]
}

function registryEnv(registry: string): { env: NodeJS.ProcessEnv } {
  return { env: { PORTWARDEN_REGISTRY: registry } }
}

describe('prune', () => {
  it("stops the project's stale orphan and its children first; the holder exits, the port is free", async () => {
    const { main, dirs } = worktrees('feature-x')
    const dir = dirs[0] as string
    const project = dir.split('/').pop() as string
    const registry = join(root, 'tree.db')
    const alloc = await runCliIn(dir, ['alloc', 'api', '--json'], registryEnv(registry))
    expect(alloc.code, alloc.stderr).toBe(0)
    const port = (JSON.parse(alloc.stdout) as { port: number }).port
    const log = join(root, 'tree.log')
    const holder = await hold(
      ['--orphan', '--children', '2', '--log', log, '--port', String(port)],
      dir,
    )
    git(main, 'worktree', 'remove', '--force', dir)

    const plan = await runCliIn(
      root,
      ['prune', '--project', project, '--dry-run', '--json'],
      registryEnv(registry),
    )
    expect(plan.code, plan.stderr).toBe(0)
    const planned = parseJson<PruneJson>(plan)
    const candidate = planned.candidates.find((c) => c.pid === holder.pid)
    expect(candidate).toMatchObject({ decision: 'stop', verdict: 'stale' })
    expect(candidate?.tree.below).toHaveLength(2)
    expect(alive(holder.pid)).toBe(true) // a dry run sends nothing

    const done = await runCliIn(
      root,
      ['prune', '--project', project, '--yes', '--json'],
      registryEnv(registry),
    )
    expect(done.code, done.stderr + done.stdout).toBe(0)
    const report = parseJson<PruneJson>(done)
    expect(report.outcome).toBe('pruned')
    expect(alive(holder.pid)).toBe(false)
    for (const pid of candidate?.tree.below ?? []) expect(alive(pid)).toBe(false)
    const lines = readFileSync(log, 'utf8').trim().split('\n')
    // Children before their parent: both had their SIGTERM, and were gone, before the holder's.
    expect(lines.slice(0, 2).every((line) => /^child \d+ TERM$/.test(line))).toBe(true)
    expect(lines[2]).toBe('holder TERM children_alive=0')
    const check = await runCliIn(root, ['check', String(port)])
    expect(check.code, check.stdout).toBe(0)
  })

  it('stops an orphaned launcher after its child that held the port (npm run dev → node)', async () => {
    const { main, dirs } = worktrees('feature-y')
    const dir = dirs[0] as string
    const registry = join(root, 'launcher.db')
    const alloc = await runCliIn(dir, ['alloc', 'web', '--json'], registryEnv(registry))
    const port = (JSON.parse(alloc.stdout) as { port: number }).port
    const holder = await hold(['--orphan', '--launcher', '--port', String(port)], dir)
    expect(holder.launcher).not.toBeNull()
    git(main, 'worktree', 'remove', '--force', dir)

    const done = await runCliIn(
      root,
      ['prune', '--project', dir.split('/').pop() as string, '--yes', '--json'],
      registryEnv(registry),
    )
    expect(done.code, done.stderr + done.stdout).toBe(0)
    const report = parseJson<PruneJson>(done)
    const candidate = report.candidates.find((c) => c.pid === holder.pid)
    expect(candidate?.tree.above).toEqual([holder.launcher])
    expect(report.tree).toContainEqual({
      pid: holder.launcher,
      of: holder.pid,
      outcome: 'exited',
      signals: expect.any(Array),
    })
    expect(alive(holder.pid)).toBe(false)
    expect(alive(holder.launcher as number)).toBe(false)
  })

  it("leaves a foreign holder (stale, but not the project's) and an in-use holder alone", async () => {
    const { dirs } = worktrees('shop')
    const dir = dirs[0] as string
    const registry = join(root, 'foreign.db')
    const elsewhere = join(root, 'elsewhere')
    mkdirSync(elsewhere, { recursive: true })
    // A squatter from elsewhere on the manifest's port: orphaned and answering 503 (stale signs).
    const foreign = await hold(['--orphan', '--http', '503'], elsewhere)
    writeFileSync(
      join(dir, 'portwarden.toml'),
      `project = "shop"\n[services.api]\nports = [${foreign.port}]\n`,
    )
    // The project's own server, alive and well: a child of its launcher in an existing worktree.
    const alloc = await runCliIn(dir, ['alloc', 'web', '--json'], registryEnv(registry))
    const port = (JSON.parse(alloc.stdout) as { port: number }).port
    const own = await hold(['--port', String(port)], dir)

    const done = await runCliIn(dir, ['prune', '--yes', '--json'], registryEnv(registry))
    const report = parseJson<PruneJson>(done)
    expect(done.code, done.stderr).toBe(1) // nothing to prune
    expect(report.outcome).toBe('nothing_to_prune')
    expect(report.candidates.find((c) => c.pid === foreign.pid)).toMatchObject({
      decision: 'not_ours',
      verdict: 'stale',
      ours: null,
    })
    expect(report.candidates.find((c) => c.pid === own.pid)).toMatchObject({
      decision: 'not_stale',
      verdict: 'in use',
    })
    expect(alive(foreign.pid)).toBe(true)
    expect(alive(own.pid)).toBe(true)

    const human = await runCliIn(dir, ['prune', '--dry-run'], registryEnv(registry))
    expect(human.stdout).toContain("not this project's: python3")
    expect(human.stdout).toContain(`portwarden free ${foreign.port}/tcp`)
    expect(human.stdout).toContain('left alone: python3')
  })

  it('without a terminal and without --yes it refuses and signals nothing (exit 2)', async () => {
    const { main, dirs } = worktrees('feature-z')
    const dir = dirs[0] as string
    const registry = join(root, 'notty.db')
    const alloc = await runCliIn(dir, ['alloc', 'api', '--json'], registryEnv(registry))
    const port = (JSON.parse(alloc.stdout) as { port: number }).port
    const holder = await hold(['--orphan', '--port', String(port)], dir)
    const ticks = startTicks(holder.pid)
    git(main, 'worktree', 'remove', '--force', dir)
    const refused = await runCliIn(
      root,
      ['prune', '--project', dir.split('/').pop() as string],
      registryEnv(registry),
    )
    expect(refused.code).toBe(2)
    expect(refused.stderr).toContain('Refusing to signal without confirmation')
    expect(refused.stderr).toContain('stale: python3')
    expect(refused.stderr).not.toMatch(/^\s+at /m)
    expect(alive(holder.pid)).toBe(true)
    expect(startTicks(holder.pid)).toBe(ticks)
  })

  it("--release-gone releases exactly the gone worktrees' allocations", async () => {
    const { main, dirs } = worktrees('kept', 'gone')
    const [kept, gone] = dirs as [string, string]
    const registry = join(root, 'gone.db')
    for (const [dir, service] of [
      [kept, 'web'],
      [gone, 'api'],
    ] as const) {
      const alloc = await runCliIn(
        dir,
        ['alloc', service, '--project', 'demo'],
        registryEnv(registry),
      )
      expect(alloc.code, alloc.stderr).toBe(0)
    }
    git(main, 'worktree', 'remove', '--force', gone)
    expect(existsSync(gone)).toBe(false)

    const plan = parseJson<PruneJson>(
      await runCliIn(
        root,
        ['prune', '--project', 'demo', '--release-gone', '--dry-run', '--json'],
        registryEnv(registry),
      ),
    )
    expect(plan.release?.map((a) => a.service)).toEqual(['api'])
    const status = async (): Promise<number> =>
      (
        JSON.parse(
          (await runCliIn(root, ['status', '--project', 'demo', '--json'], registryEnv(registry)))
            .stdout,
        ) as { allocations: unknown[] }
      ).allocations.length
    expect(await status()).toBe(2) // a dry run releases nothing

    const done = await runCliIn(
      root,
      ['prune', '--project', 'demo', '--release-gone', '--yes', '--json'],
      registryEnv(registry),
    )
    expect(done.code, done.stderr).toBe(0)
    expect(parseJson<PruneJson>(done).released).toHaveLength(1)
    const left = JSON.parse(
      (await runCliIn(root, ['status', '--project', 'demo', '--json'], registryEnv(registry)))
        .stdout,
    ) as { allocations: { worktree: string }[] }
    expect(left.allocations.map((a) => a.worktree)).toEqual([kept])
  })

  it('who, check and free --dry-run show the same verdict, the registry sign from the registry', async () => {
    const elsewhere = join(root, 'squat')
    mkdirSync(elsewhere, { recursive: true })
    const squatter = await hold(['--orphan'], elsewhere)
    const port = String(squatter.port)
    const registry = join(root, 'signs.db')
    // Before the registry knows the port: only the weak orphan sign, `in use`, said as such.
    const before = await runCliIn(root, ['free', port, '--dry-run', '--registry', registry])
    expect(before.stdout).toContain('in use: only orphaned')
    // The registry gives the port to another project's service (recorded from its worktree).
    const { dirs } = worktrees('billing')
    const alloc = await runCliIn(
      dirs[0] as string,
      ['alloc', 'api', '--port', port, '--pid', String(squatter.pid)],
      registryEnv(registry),
    )
    expect(alloc.code, alloc.stderr).toBe(0)
    const project = (dirs[0] as string).split('/').pop() as string
    const who = await runCliIn(root, ['who', port, '--registry', registry])
    expect(who.stdout).toContain(`looks stale: the port is allocated to ${project}/api`)
    const check = await runCliIn(root, ['check', port, '--registry', registry])
    expect(check.stdout).toContain(`pid ${squatter.pid} looks stale: the port is allocated to`)
    const checkJson = parseJson<{ ports: { holders: { processes: { verdict: string }[] }[] }[] }>(
      await runCliIn(root, ['check', port, '--json', '--registry', registry]),
    )
    expect(checkJson.ports[0]?.holders[0]?.processes[0]?.verdict).toBe('stale')
    const plan = await runCliIn(root, ['free', port, '--dry-run', '--json', '--registry', registry])
    expect(parseJson<{ targets: { pid: number; verdict: string }[] }>(plan).targets).toEqual([
      expect.objectContaining({ pid: squatter.pid, verdict: 'stale' }),
    ])
  })

  it('bad input: an unknown signal or a bad duration is exit 2 with the accepted forms', async () => {
    const bad = await runCliIn(root, ['prune', '--signal', 'BOOM'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/TERM/)
    const wait = await runCliIn(root, ['prune', '--wait', 'soon'])
    expect(wait.code).toBe(2)
    expect(wait.stderr).not.toMatch(/^\s+at /m)
  })
})
