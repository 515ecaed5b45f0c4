/**
 * Carries out a prune plan through `free`'s path: per approved candidate, its descendants first
 * (children before parents), then the holder itself by `executeFree` (re-checked identity right
 * before each signal, wait for the port, SIGKILL only with `killAfterMs`), then the orphaned
 * launchers above it; with `releaseGone`, the gone worktrees' allocations last.
 */
import type { ExecuteOptions, FreeEvent, FreeReport } from '../free/execute-free.js'
import { executeFree } from '../free/execute-free.js'
import type { FreeSignal } from '../free/options.js'
import type { ProcessMark } from '../process/identity.js'
import { isSameProcess } from '../process/identity.js'
import type { SignalAttempt } from '../process/signal.js'
import { signalVerified } from '../process/signal.js'
import { worktreeGone } from '../registry/gone-worktrees.js'
import type { Allocation, RegistryStore } from '../registry/types.js'
import type { PruneCandidate, PrunePlan } from './plan-prune.js'

export type PruneEvent =
  | FreeEvent
  | { type: 'tree_signal'; candidate: PruneCandidate; mark: ProcessMark; signal: FreeSignal }

export interface PruneExecuteOptions {
  /** Asked once per candidate to stop, before anything is sent. Default: yes. */
  approve?: (candidate: PruneCandidate) => boolean | Promise<boolean>
  onEvent?: (event: PruneEvent) => void
  /** Where `releaseGone` releases (the registry the scope was read from). */
  store?: RegistryStore | null
  kill?: ExecuteOptions['kill']
  pollIntervalMs?: number
}

/** A process of a candidate's tree (not the holder) and what happened to it. */
export interface TreeReport {
  candidate: PruneCandidate
  mark: ProcessMark
  /** `exited`: gone after our signal; `running`: still there; `not_signalled`: refused or gone before. */
  outcome: 'exited' | 'running' | 'not_signalled'
  signals: SignalAttempt<FreeSignal>[]
}

/** `pruned` (exit 0): every stale holder was stopped, or a gone allocation released. */
export type PruneOutcome = 'pruned' | 'not_pruned' | 'nothing_to_prune' | 'permission_denied'

export interface PruneReport {
  plan: PrunePlan
  outcome: PruneOutcome
  free: FreeReport
  tree: TreeReport[]
  /** Allocations released because their worktree is gone. */
  released: Allocation[]
  elapsedMs: number
}

export async function executePrune(
  plan: PrunePlan,
  options: PruneExecuteOptions = {},
): Promise<PruneReport> {
  const started = Date.now()
  const approve = options.approve ?? (() => true)
  const emit = options.onEvent ?? (() => {})
  const approved: PruneCandidate[] = []
  for (const candidate of plan.candidates)
    if (candidate.decision === 'stop' && (await approve(candidate))) approved.push(candidate)
  const pids = new Set(approved.map((c) => c.holder.pid))
  const run: TreeRun = { plan, options, emit, reports: [] }

  for (const candidate of approved) await stopMarks(run, candidate, candidate.tree.below)
  const free = await executeFree(plan.free, {
    approve: (target) => pids.has(target.holder.pid),
    onEvent: emit,
    ...(options.kill ? { kill: options.kill } : {}),
    ...(options.pollIntervalMs ? { pollIntervalMs: options.pollIntervalMs } : {}),
  })
  for (const candidate of approved) {
    const outcome = free.targets.find((t) => t.target.holder.pid === candidate.holder.pid)?.outcome
    if (outcome === 'exited' || outcome === 'released' || outcome === 'gone')
      await stopMarks(run, candidate, candidate.tree.above)
  }

  const released: Allocation[] = []
  if (options.store) {
    for (const row of plan.gone.filter(worktreeGone)) {
      released.push(
        ...(await options.store.remove({
          project: row.project,
          service: row.service,
          protocol: row.protocol,
        })),
      )
    }
  }
  return {
    plan,
    outcome: pruneOutcome(plan, free, approved, released),
    free,
    tree: run.reports,
    released,
    elapsedMs: Date.now() - started,
  }
}

interface TreeRun {
  plan: PrunePlan
  options: PruneExecuteOptions
  emit: (event: PruneEvent) => void
  reports: TreeReport[]
}

const POLL_MS = 20

/**
 * Signals each mark in order (children before parents), waiting for each to exit (up to the
 * plan's wait) before its parent; SIGKILL after `killAfterMs` only when the plan allows it.
 */
async function stopMarks(
  run: TreeRun,
  candidate: PruneCandidate,
  marks: readonly ProcessMark[],
): Promise<void> {
  const { signal, waitMs, killAfterMs, procRoot } = run.plan.free
  for (const mark of marks) {
    const report: TreeReport = { candidate, mark, outcome: 'not_signalled', signals: [] }
    run.reports.push(report)
    const attempt = signalVerified(mark, signal, {
      procRoot,
      ...(run.options.kill ? { kill: run.options.kill } : {}),
    })
    report.signals.push(attempt)
    if (!attempt.sent) continue
    run.emit({ type: 'tree_signal', candidate, mark, signal })
    let exited = await exitWithin(mark, killAfterMs ?? waitMs, procRoot)
    if (!exited && killAfterMs !== null && signal !== 'SIGKILL') {
      const kill = signalVerified(mark, 'SIGKILL', {
        procRoot,
        ...(run.options.kill ? { kill: run.options.kill } : {}),
      })
      report.signals.push(kill)
      if (kill.sent) run.emit({ type: 'tree_signal', candidate, mark, signal: 'SIGKILL' })
      exited = await exitWithin(mark, waitMs, procRoot)
    }
    report.outcome = exited ? 'exited' : 'running'
  }
}

async function exitWithin(mark: ProcessMark, ms: number, procRoot: string): Promise<boolean> {
  const deadline = Date.now() + ms
  for (;;) {
    if (!isSameProcess(mark, procRoot)) return true
    if (Date.now() >= deadline) return false
    await new Promise((resolve) => setTimeout(resolve, POLL_MS))
  }
}

function pruneOutcome(
  plan: PrunePlan,
  free: FreeReport,
  approved: readonly PruneCandidate[],
  released: readonly Allocation[],
): PruneOutcome {
  const meant = plan.candidates.filter((c) => c.decision === 'stop' || c.decision === 'refused')
  if (meant.length === 0 && released.length === 0) return 'nothing_to_prune'
  if (free.outcome === 'permission_denied') return 'permission_denied'
  const stopped = approved.every((candidate) => {
    const outcome = free.targets.find((t) => t.target.holder.pid === candidate.holder.pid)?.outcome
    return outcome === 'exited' || outcome === 'released' || outcome === 'gone'
  })
  return stopped && approved.length === meant.length ? 'pruned' : 'not_pruned'
}
