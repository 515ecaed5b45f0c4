import type { Command } from 'commander'
import { PortwardenError } from '../../core/errors.js'
import { executeFree, planOutcome } from '../../core/free/execute-free.js'
import { formatDuration, parseStopOptions } from '../../core/free/options.js'
import { describeSpecs, heldOnlyByPublishers, planFree } from '../../core/free/plan-free.js'
import { toJsonFreePlan, toJsonFreeReport } from '../../core/free/wire.js'
import { displayName, portInUseSentence, publishedSentence } from '../../core/messages.js'
import type {
  FreeEvent,
  FreeOutcome,
  FreeReport,
  TargetReport,
} from '../../core/free/execute-free.js'
import type { FreeSignal } from '../../core/free/options.js'
import type { FreePlan, FreeTarget, PortKey } from '../../core/free/plan-free.js'
import type { CliContext } from '../cli-context.js'
import type { CommandResult, GlobalOptions } from '../command-result.js'
import type { ConfirmIo } from '../confirm.js'
import { confirmEach, EXIT_INTERRUPTED } from '../confirm.js'
import { EXIT } from '../exit-codes.js'
import type { RegistryOptions } from '../registry-access.js'
import { allocationsForEvidence } from '../registry-access.js'
import { explainJudgement } from '../../core/stale/index.js'
import { parseBackend, requireSpecs } from '../parse-options.js'
import { renderUptime } from '../render/human.js'
import type { Style } from '../render/style.js'
import { colorEnabled, createStyle } from '../render/style.js'
import { truncate } from '../../shared/safe-text.js'

export interface FreeCommandOptions extends GlobalOptions, RegistryOptions {
  dryRun?: boolean
  yes?: boolean
  signal?: string
  wait?: string
  killAfter?: string
}

/** Where `free` talks to a person: the question, the plan and the progress go to stderr. */
export type FreeIo = ConfirmIo

const OUTCOME_EXIT: Record<FreeOutcome, number> = {
  freed: EXIT.ok,
  not_freed: EXIT.no,
  nothing_to_free: EXIT.no,
  permission_denied: EXIT.environment,
}

export async function free(
  specTexts: string[],
  options: FreeCommandOptions,
  style: Style,
  io: FreeIo = { stdin: process.stdin, stderr: process.stderr },
): Promise<CommandResult> {
  const specs = requireSpecs(specTexts, 'free')
  const { signal, waitMs, killAfterMs } = parseStopOptions(options, {
    wait: '--wait',
    killAfter: '--kill-after',
  })
  const warnings: string[] = []
  if (killAfterMs !== null && signal === 'SIGKILL') {
    warnings.push(
      '--kill-after has no effect with --signal KILL: SIGKILL is already the first signal',
    )
  }
  const registry = await allocationsForEvidence(options)
  const plan = await planFree(specs, {
    signal,
    waitMs,
    killAfterMs,
    backend: parseBackend(options.backend),
    // Is each holder a leftover or in use? Said in the plan, before anyone is asked.
    evidence: { allocations: registry.allocations },
  })
  warnings.push(...registry.warnings, ...plan.warnings.map((w) => w.message))
  const errStyle = createStyle(colorEnabled(io.stderr))

  if (options.dryRun) {
    return {
      exitCode: OUTCOME_EXIT[planOutcome(plan)],
      json: options.json ? toJsonFreePlan(plan) : null,
      text: options.json ? '' : `${renderPlan(plan, style)}\n${style.dim(dryRunFooter(plan))}`,
      warnings,
    }
  }

  const candidates = plan.targets.filter((t) => t.refusal === null && t.identity !== null)
  let approved: Set<FreeTarget> | null | undefined
  if (candidates.length > 0 && !options.yes) {
    if (!io.stdin.isTTY) {
      if (!options.json) io.stderr.write(`${renderPlan(plan, errStyle)}\n`)
      throw new PortwardenError(
        'invalid_request',
        'Refusing to signal without confirmation: stdin is not a terminal, so portwarden cannot ask.',
        {
          hint: `Pass --yes to stop ${candidates.length === 1 ? 'the process' : 'the processes'} listed above, or --dry-run to only see the plan.`,
        },
      )
    }
    if (!options.json) io.stderr.write(`${renderPlan(plan, errStyle)}\n`)
    approved = await confirmEach(candidates, (target) => question(target, plan.signal), io)
    if (approved === null) {
      // Ctrl-C stops the whole command, as it would any other: nothing was sent yet.
      return {
        exitCode: EXIT_INTERRUPTED,
        json: null,
        text: '',
        warnings,
        notes: ['interrupted: nothing was signalled'],
      }
    }
  } else if (!options.json && candidates.length > 0) {
    io.stderr.write(`${renderPlan(plan, errStyle)}\n`)
  }

  const report = await executeFree(plan, {
    approve: approved ? (target) => approved.has(target) : undefined,
    onEvent: options.json
      ? undefined
      : (event) => io.stderr.write(`${errStyle.dim(progressLine(event))}\n`),
  })
  return {
    exitCode: OUTCOME_EXIT[report.outcome],
    json: options.json ? toJsonFreeReport(report) : null,
    text: options.json ? '' : renderReport(report, style),
    warnings,
  }
}

// ---------------------------------------------------------------------------------------------
// Asking

/** `Stop node (pid 4242, user dev, up 3h12m, cmd "node server.js") holding TCP port 8080?` */
export function question(target: FreeTarget, signal: FreeSignal): string {
  const verb = stops(signal) ? 'Stop' : `Send ${signal} to`
  const caveats = target.caveats.map((c) => ` (${c})`).join('')
  return `${verb} ${processDetails(target)} holding ${portsText(target.ports)}?${caveats}`
}

function stops(signal: FreeSignal): boolean {
  return signal === 'SIGTERM' || signal === 'SIGINT' || signal === 'SIGKILL' || signal === 'SIGQUIT'
}

// ---------------------------------------------------------------------------------------------
// Rendering

function processDetails(target: FreeTarget): string {
  const h = target.holder
  return `${displayName(h.name)} (pid ${h.pid}, user ${displayName(h.user)}, up ${renderUptime(h.startedAt)}, cmd ${JSON.stringify(truncate(displayName(h.command) || '?', 100))})`
}

function shortName(target: FreeTarget): string {
  return `${displayName(target.holder.name)} (pid ${target.holder.pid})`
}

function portText(key: PortKey): string {
  return `${key.protocol.toUpperCase()} port ${key.port}`
}

function portsText(keys: readonly PortKey[]): string {
  if (keys.length === 1) return portText(keys[0] as PortKey)
  const protocols = new Set(keys.map((k) => k.protocol))
  if (protocols.size === 1) {
    const numbers = keys.map((k) => k.port)
    return `${keys[0]!.protocol.toUpperCase()} ports ${numbers.slice(0, -1).join(', ')} and ${numbers[numbers.length - 1]}`
  }
  return keys.map(portText).join(', ')
}

function holdsPort(target: FreeTarget, key: PortKey): boolean {
  return target.ports.some((p) => p.port === key.port && p.protocol === key.protocol)
}

/** The plan: per port who holds it, what will be sent to whom, and what will not and why. */
export function renderPlan(plan: FreePlan, style: Style): string {
  if (plan.ports.length === 0) {
    return `Nothing to free: no process holds any port in ${describeSpecs(plan.specs)}.`
  }
  const blocks: string[] = []
  for (const port of plan.ports) {
    if (!port.held) {
      blocks.push(`Nothing to free on ${portText(port)}: no process holds it.`)
      continue
    }
    const lines: string[] = []
    lines.push(
      style.bold(
        port.sockets.length > 0
          ? `${portInUseSentence(port.protocol, port.port, port.sockets, 'is held by')}.`
          : heldOnlyByPublishers(port)
            ? `${publishedSentence(port.protocol, port.port, port.publishers)}.`
            : `${portText(port)} is in use, but no socket table shows who holds it.`,
      ),
    )
    for (const target of plan.targets.filter((t) => holdsPort(t, port))) {
      if (target.refusal) {
        lines.push(
          `  ${style.warn('will not signal')} ${shortName(target)}: ${target.refusal.message}`,
        )
        if (target.refusal.suggestion)
          lines.push(`    ${style.bold(`→ ${target.refusal.suggestion}`)}`)
      } else {
        lines.push(
          `  will send ${plan.signal} to ${displayName(target.holder.name)} (pid ${target.holder.pid}, user ${displayName(target.holder.user)}, up ${renderUptime(target.holder.startedAt)})`,
        )
        lines.push(style.dim(`    command: ${displayName(target.holder.command) || '(none)'}`))
        if (target.judgement) lines.push(`    ${displayName(explainJudgement(target.judgement))}`)
        for (const caveat of target.caveats) lines.push(`    ${style.warn('note')}: ${caveat}`)
        if (plan.killAfterMs !== null && plan.signal !== 'SIGKILL') {
          lines.push(
            style.dim(
              `    then SIGKILL if the port is still held ${formatDuration(plan.killAfterMs)} after ${plan.signal}`,
            ),
          )
        }
      }
    }
    for (const blocker of port.blockers) {
      lines.push(`  ${style.warn('cannot free it')}: ${blocker.message}`)
      if (blocker.suggestion) lines.push(`    ${style.bold(`→ ${blocker.suggestion}`)}`)
    }
    blocks.push(lines.join('\n'))
  }
  return blocks.join('\n')
}

function dryRunFooter(plan: FreePlan): string {
  const candidates = plan.targets.filter((t) => t.refusal === null && t.identity !== null)
  if (candidates.length === 0) return 'Dry run: nothing was signalled (and nothing would be).'
  return 'Dry run: nothing was signalled. Run without --dry-run to do it (you will be asked; --yes skips the question).'
}

function progressLine(event: FreeEvent): string {
  switch (event.type) {
    case 'signal':
      return `Sent ${event.signal} to ${shortName(event.target)}.`
    case 'not_signalled':
      return `Did not send ${event.signal} to ${shortName(event.target)}: ${event.message}.`
    case 'waiting': {
      const what =
        event.ports.length === 1 ? portText(event.ports[0]!) : `${portsText(event.ports)}`
      const next =
        event.signal !== 'SIGKILL' && event.killAfterMs !== null ? ' before sending SIGKILL' : ''
      return `Waiting up to ${formatDuration(event.ms)} for ${what} to be released${next}...`
    }
  }
}

/** `SIGTERM`, or `SIGKILL, sent 2.1s after SIGTERM` when it took more than one. */
function signalsText(report: TargetReport): string {
  const [first, ...rest] = report.signals
  if (!first) return 'nothing'
  const last = rest[rest.length - 1]
  if (!last) return first.signal
  return `${last.signal}, sent ${formatDuration(last.elapsedMs - first.elapsedMs)} after ${first.signal}`
}

function targetLine(report: TargetReport, plan: FreePlan, style: Style): string[] {
  const name = shortName(report.target)
  switch (report.outcome) {
    case 'exited':
      return [`${name} exited after ${signalsText(report)}.`]
    case 'released':
      return [`${name} let go of the port after ${signalsText(report)} (it is still running).`]
    case 'survived': {
      const lines = [`${name} ${report.message} and still holds the port.`]
      if (plan.killAfterMs === null && plan.signal !== 'SIGKILL') {
        lines.push(
          style.bold(
            `→ to send SIGKILL when ${plan.signal} is not enough: portwarden free ${report.target.ports.map((p) => `${p.port}/${p.protocol}`).join(' ')} --kill-after ${formatDuration(Math.max(plan.waitMs, 1000))}`,
          ),
        )
      }
      return lines
    }
    case 'refused': {
      const suggestion = report.target.refusal?.suggestion
      return [
        `Did not signal ${name}: ${report.message}.`,
        ...(suggestion ? [style.bold(`→ ${suggestion}`)] : []),
      ]
    }
    case 'declined':
      return [`Did not signal ${name}: not confirmed.`]
    case 'gone':
      return [`${name} ${report.message}.`]
    case 'changed':
      return [`Did not signal ${name}: ${report.message}.`]
    case 'permission_denied':
      return [`Could not signal ${name}: ${report.message}.`]
    case 'failed':
      return [`Could not signal ${name}: ${report.message}.`]
  }
}

/** Per port: freed / still held by ... / nothing to free, with what happened to each process. */
export function renderReport(report: FreeReport, style: Style): string {
  const { plan } = report
  if (report.ports.length === 0) {
    return `Nothing to free: no process holds any port in ${describeSpecs(plan.specs)}.`
  }
  const blocks: string[] = []
  const told = new Set<TargetReport>()
  for (const port of report.ports) {
    const lines: string[] = []
    if (port.status === 'nothing_to_free') {
      blocks.push(style.dim(`Nothing to free on ${portText(port)}: no process holds it.`))
      continue
    }
    const concerned = report.targets.filter((t) => holdsPort(t.target, port))
    if (port.status === 'freed') {
      const only = concerned.length === 1 ? concerned[0]! : null
      if (only && !told.has(only) && (only.outcome === 'exited' || only.outcome === 'released')) {
        told.add(only)
        blocks.push(style.pass(`${portText(port)} is free: ${targetLine(only, plan, style)[0]}`))
        continue
      }
      lines.push(style.pass(`${portText(port)} is free.`))
    } else {
      lines.push(style.fail(`${port.message}.`))
    }
    for (const target of concerned) {
      if (told.has(target)) {
        lines.push(style.dim(`  ${shortName(target.target)}: see above.`))
        continue
      }
      told.add(target)
      lines.push(...targetLine(target, plan, style).map((line) => `  ${line}`))
    }
    if (port.status === 'still_held') {
      for (const blocker of port.refusals.filter(
        (r) => !report.targets.some((t) => t.target.refusal === r),
      )) {
        lines.push(`  Cannot free it: ${blocker.message}.`)
        if (blocker.suggestion) lines.push(`  ${style.bold(`→ ${blocker.suggestion}`)}`)
      }
    }
    blocks.push(lines.join('\n'))
  }
  const signalled = report.targets.some((t) => t.signals.length > 0)
  if (!signalled && report.outcome !== 'nothing_to_free')
    blocks.push(style.dim('Nothing was signalled.'))
  return blocks.join('\n')
}

export function registerFree(program: Command, cli: CliContext): void {
  cli
    .registry(
      program
        .command('free')
        .description(
          'stop the processes holding these ports, safely: show the plan, ask, SIGTERM, wait for the port',
        )
        .argument('[spec...]', 'ports: 8080, 8080/tcp, 51820/udp, 8000-8010')
        .option('--dry-run', 'show what would be signalled; send nothing')
        .option('-y, --yes', 'do not ask (needed when stdin is not a terminal)')
        .option('--signal <name>', 'first signal: TERM, INT, HUP, QUIT, USR1, USR2 or KILL', 'TERM')
        .option('--wait <duration>', 'how long to wait for the port after the last signal', '5s')
        .option(
          '--kill-after <duration>',
          'send SIGKILL if the port is still held this long after the first signal (default: never)',
        ),
    )
    .action((specs: string[], options) => cli.run(free(specs, cli.globals(options), cli.stdout)))
}
