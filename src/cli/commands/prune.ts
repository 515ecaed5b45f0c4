import type { Command } from 'commander'
import { PortwardenError } from '../../core/errors.js'
import { formatDuration, parseStopOptions } from '../../core/free/options.js'
import type { PortKey } from '../../core/free/plan-free.js'
import { displayName, releasedSentence } from '../../core/messages.js'
import type { PruneEvent, PruneOutcome, PruneReport } from '../../core/prune/execute-prune.js'
import { executePrune } from '../../core/prune/execute-prune.js'
import type { PruneCandidate, PrunePlan } from '../../core/prune/plan-prune.js'
import { planPrune } from '../../core/prune/plan-prune.js'
import { pruneScope } from '../../core/prune/scope.js'
import { toJsonPrunePlan, toJsonPruneReport } from '../../core/prune/wire.js'
import { explainJudgement } from '../../core/stale/index.js'
import type { CliContext } from '../cli-context.js'
import type { CommandResult, GlobalOptions } from '../command-result.js'
import type { ConfirmIo } from '../confirm.js'
import { confirmEach, EXIT_INTERRUPTED } from '../confirm.js'
import { EXIT } from '../exit-codes.js'
import { parseBackend } from '../parse-options.js'
import type { RegistryOptions } from '../registry-access.js'
import { withExistingRegistry } from '../registry-access.js'
import { renderUptime } from '../render/human.js'
import type { Style } from '../render/style.js'
import { colorEnabled, createStyle } from '../render/style.js'
import { renderReport as renderFreeReport } from './free.js'

export interface PruneCommandOptions extends GlobalOptions, RegistryOptions {
  project?: string
  manifest?: string
  dryRun?: boolean
  yes?: boolean
  signal?: string
  wait?: string
  killAfter?: string
  releaseGone?: boolean
}

/** As `free`: 0 done, 1 nothing to do or not all done, 3 not allowed. */
const OUTCOME_EXIT: Record<PruneOutcome, number> = {
  pruned: EXIT.ok,
  not_pruned: EXIT.no,
  nothing_to_prune: EXIT.no,
  permission_denied: EXIT.environment,
}

export async function prune(
  options: PruneCommandOptions,
  style: Style,
  io: ConfirmIo = { stdin: process.stdin, stderr: process.stderr },
): Promise<CommandResult> {
  const { signal, waitMs, killAfterMs } = parseStopOptions(options, {
    wait: '--wait',
    killAfter: '--kill-after',
  })
  const backend = parseBackend(options.backend)
  return withExistingRegistry(options, async (store) => {
    const scope = await pruneScope({ project: options.project, manifest: options.manifest }, store)
    const plan = await planPrune(scope, {
      signal,
      waitMs,
      killAfterMs,
      backend,
      releaseGone: options.releaseGone === true,
    })
    const warnings = plan.warnings.map((w) => w.message)
    const errStyle = createStyle(colorEnabled(io.stderr))
    if (options.dryRun) {
      const json = toJsonPrunePlan(plan)
      return {
        exitCode: OUTCOME_EXIT[json.outcome],
        json: options.json ? json : null,
        text: options.json
          ? ''
          : `${renderPrunePlan(plan, style)}\n${style.dim(dryRunFooter(plan))}`,
        warnings,
      }
    }
    const stopping = plan.candidates.filter((c) => c.decision === 'stop')
    let approved: Set<PruneCandidate> | null | undefined
    if (stopping.length > 0 && !options.yes) {
      if (!options.json) io.stderr.write(`${renderPrunePlan(plan, errStyle)}\n`)
      if (!io.stdin.isTTY) {
        throw new PortwardenError(
          'invalid_request',
          'Refusing to signal without confirmation: stdin is not a terminal, so portwarden cannot ask.',
          {
            hint: `Pass --yes to stop the ${stopping.length === 1 ? 'process' : 'processes'} listed above, or --dry-run to only see the plan.`,
          },
        )
      }
      approved = await confirmEach(stopping, (c) => question(c, plan), io)
      if (approved === null) {
        return {
          exitCode: EXIT_INTERRUPTED,
          json: null,
          text: '',
          warnings,
          notes: ['interrupted: nothing was signalled'],
        }
      }
    } else if (!options.json && (stopping.length > 0 || plan.gone.length > 0)) {
      io.stderr.write(`${renderPrunePlan(plan, errStyle)}\n`)
    }
    const report = await executePrune(plan, {
      approve: approved ? (c) => approved.has(c) : undefined,
      store,
      onEvent: options.json
        ? undefined
        : (event) => io.stderr.write(`${errStyle.dim(progressLine(event))}\n`),
    })
    return {
      exitCode: OUTCOME_EXIT[report.outcome],
      json: options.json ? toJsonPruneReport(report) : null,
      text: options.json ? '' : renderPruneReport(report, style),
      warnings,
    }
  })
}

function portsText(ports: readonly PortKey[]): string {
  return ports.map((p) => `${p.protocol.toUpperCase()} port ${p.port}`).join(', ')
}

function holderText(candidate: PruneCandidate): string {
  const h = candidate.holder
  return `${displayName(h.name)} (pid ${h.pid}, user ${displayName(h.user)}, up ${renderUptime(h.startedAt)})`
}

function treeText(candidate: PruneCandidate): string {
  const n = candidate.tree.below.length + candidate.tree.above.length
  return n === 0 ? '' : ` and the ${n} other process${n === 1 ? '' : 'es'} of its tree`
}

/** `will send SIGTERM, first to its 2 descendants, then to its orphaned launcher (pid 7)`. */
function signalPlanText(candidate: PruneCandidate, plan: PrunePlan): string {
  const { below, above } = candidate.tree
  const parts = [`will send ${plan.free.signal}`]
  if (below.length > 0)
    parts.push(`first to its ${below.length} descendant${below.length === 1 ? '' : 's'}`)
  if (above.length > 0) {
    const pids = above.map((m) => m.pid).join(', ')
    parts.push(`then to its orphaned launcher${above.length === 1 ? '' : 's'} (pid ${pids})`)
  }
  if (plan.free.killAfterMs !== null && plan.free.signal !== 'SIGKILL')
    parts.push(`SIGKILL after ${formatDuration(plan.free.killAfterMs)} if still there`)
  return parts.join(', ')
}

function question(candidate: PruneCandidate, plan: PrunePlan): string {
  return `Stop ${holderText(candidate)}${treeText(candidate)} holding ${portsText(candidate.ports)} with ${plan.free.signal}?`
}

/** What prune found: what it will stop, what it leaves alone and why, what it will release. */
export function renderPrunePlan(plan: PrunePlan, style: Style): string {
  const { scope } = plan
  const where = scope.roots.length > 0 ? ` (${scope.roots.join(', ')})` : ''
  const lines: string[] = [style.bold(`Prune ${displayName(scope.project)}${where}:`)]
  if (plan.candidates.length === 0 && plan.kernel.length === 0 && plan.gone.length === 0) {
    lines.push('  no process holds a port of this project or listens from its directories.')
  }
  for (const candidate of plan.candidates) {
    const judged = explainJudgement(candidate.judgement)
    const head = `${holderText(candidate)} on ${portsText(candidate.ports)}`
    switch (candidate.decision) {
      case 'stop':
        lines.push(`  ${style.warn('stale')}: ${head}`)
        lines.push(`    ${judged}`)
        lines.push(style.dim(`    ${signalPlanText(candidate, plan)}`))
        break
      case 'refused':
        lines.push(`  ${style.warn('will not signal')} ${head}: ${candidate.why}`)
        break
      case 'not_stale':
        lines.push(`  left alone: ${head}`)
        lines.push(style.dim(`    ${judged}`))
        break
      case 'not_ours':
        lines.push(`  not this project's: ${head} — never signalled by prune`)
        lines.push(
          style.dim(
            `    ${judged}; to stop it anyway: portwarden free ${candidate.ports.map((p) => `${p.port}/${p.protocol}`).join(' ')}`,
          ),
        )
        break
    }
  }
  for (const { port, holder } of plan.kernel) {
    lines.push(
      `  kernel: ${portsText([port])} is held by the kernel for ${displayName(holder.description)}`,
    )
    if (holder.fix) lines.push(`    ${style.bold(`→ ${holder.fix}`)}`)
  }
  for (const row of plan.gone)
    lines.push(
      `  will release ${row.project}/${row.service} ${row.port}/${row.protocol}: its worktree ${row.worktree ?? '?'} is gone`,
    )
  return lines.join('\n')
}

function dryRunFooter(plan: PrunePlan): string {
  const acting = plan.candidates.some((c) => c.decision === 'stop') || plan.gone.length > 0
  if (!acting) return 'Dry run: nothing was signalled (and nothing would be).'
  return 'Dry run: nothing was signalled or released. Run without --dry-run to do it (you will be asked; --yes skips the question).'
}

function progressLine(event: PruneEvent): string {
  switch (event.type) {
    case 'tree_signal':
      return `Sent ${event.signal} to pid ${event.mark.pid} (of ${displayName(event.candidate.holder.name)}'s tree).`
    case 'signal':
      return `Sent ${event.signal} to ${displayName(event.target.holder.name)} (pid ${event.target.holder.pid}).`
    case 'not_signalled':
      return `Did not send ${event.signal} to ${displayName(event.target.holder.name)} (pid ${event.target.holder.pid}): ${event.message}.`
    case 'waiting':
      return `Waiting up to ${formatDuration(event.ms)} for ${portsText(event.ports)} to be released...`
  }
}

export function renderPruneReport(report: PruneReport, style: Style): string {
  const blocks: string[] = []
  if (report.outcome === 'nothing_to_prune') {
    blocks.push(renderPrunePlan(report.plan, style))
    blocks.push(style.dim('Nothing to prune: no process of this project looks stale.'))
    return blocks.join('\n')
  }
  if (report.free.ports.length > 0) blocks.push(renderFreeReport(report.free, style))
  const running = report.tree.filter((t) => t.outcome === 'running')
  if (running.length > 0)
    blocks.push(
      style.warn(
        `Still running from their trees: ${running.map((t) => `pid ${t.mark.pid}`).join(', ')}.`,
      ),
    )
  for (const row of report.released) blocks.push(releasedSentence(row))
  const left = report.plan.candidates.filter(
    (c) => c.decision === 'not_stale' || c.decision === 'not_ours',
  ).length
  if (left > 0)
    blocks.push(
      style.dim(
        `Left alone: ${left} holder${left === 1 ? '' : 's'} that ${left === 1 ? 'is' : 'are'} in use or not this project's (see --dry-run).`,
      ),
    )
  return blocks.join('\n')
}

export function registerPrune(program: Command, cli: CliContext): void {
  cli
    .registry(
      program
        .command('prune')
        .description(
          "stop this project's stale leftovers (orphaned dev servers, deleted worktrees), judged on evidence, through free's safe path",
        )
        .option('--project <name>', "another project than the current directory's")
        .option('--manifest <file>', 'the manifest (default: the nearest portwarden.toml)')
        .option('--dry-run', 'show what would be stopped and released; do nothing')
        .option('-y, --yes', 'do not ask (needed when stdin is not a terminal)')
        .option('--signal <name>', 'first signal: TERM, INT, HUP, QUIT, USR1, USR2 or KILL', 'TERM')
        .option('--wait <duration>', 'how long to wait for each port after the last signal', '5s')
        .option(
          '--kill-after <duration>',
          'send SIGKILL if still held this long after the first signal (default: never)',
        )
        .option('--release-gone', 'also release the allocations whose worktree directory is gone'),
    )
    .action((options) => cli.run(prune(cli.globals(options), cli.stdout)))
}
