import { relative } from 'node:path'
import type { DoctorCheck, DoctorReport } from '../../core/doctor.js'
import type { PreflightPort, PreflightResult } from '../../core/preflight.js'
import type { Holder, SocketEntry } from '../../core/types.js'
import { portSubject } from '../../core/doctor.js'
import { preflightStatus } from '../../core/preflight.js'
import {
  checkSummary,
  describeHolders,
  describeNamedContainer,
  displayName,
  holderContainerLabel,
  timeWaitCaveat,
} from '../../core/messages.js'
import { renderUptime } from './human.js'
import type { Style } from './style.js'
import { truncate } from '../../shared/safe-text.js'

const MAX_COMMAND = 80
const MAX_HOLDERS = 3

/** A path as the user would type it: relative below the current directory, else absolute. */
export function shownPath(path: string, cwd = process.cwd()): string {
  const rel = relative(cwd, path)
  return rel !== '' && !rel.startsWith('..') ? rel : path
}

/**
 * `python3 (pid 812, up 3h12m, cmd "python3 -m http.server 8080")`: each holding process once,
 * with what a person needs to decide whether it may go.
 */
export function describeHoldersBriefly(sockets: readonly SocketEntry[], now = Date.now()): string {
  const byPid = new Map<number, Holder>()
  for (const socket of sockets)
    for (const holder of socket.processes) if (!byPid.has(holder.pid)) byPid.set(holder.pid, holder)
  if (byPid.size === 0) return describeHolders(sockets)
  const me = process.getuid?.()
  const parts = [...byPid.values()].slice(0, MAX_HOLDERS).map((holder) => {
    const facts = [`pid ${holder.pid}`]
    if (me !== undefined && holder.uid !== me) facts.push(`user ${displayName(holder.user)}`)
    facts.push(`up ${renderUptime(holder.startedAt, now)}`)
    const named = holder.dockerContainer
    if (holder.container)
      facts.push(
        `forwarding to container ${displayName(holder.container)}${named ? `: ${describeNamedContainer(named)}` : ''}`,
      )
    else if (named) facts.push(`publishing Docker container ${holderContainerLabel(holder)}`)
    const command = displayName(holder.command)
    if (command) facts.push(`cmd "${truncate(command, MAX_COMMAND)}"`)
    return `${displayName(holder.name)} (${facts.join(', ')})`
  })
  const more = byPid.size - MAX_HOLDERS
  return more > 0 ? `${parts.join(', ')} and ${more} more` : parts.join(', ')
}

/** What follows `[PASS] 8080/tcp (web): ` for one declared port. */
export function portVerdict(port: PreflightPort, project: string, now = Date.now()): string {
  const allocation = port.allocation
  const foreign = allocation !== null && allocation.project !== project
  const owner = allocation
    ? `${displayName(allocation.service)} of project ${displayName(allocation.project)}`
    : ''
  if (port.ok) {
    if (port.port === null) return port.message
    const caveat = timeWaitCaveat(port.check)
    const but = caveat ? `, but ${caveat.message}` : ''
    if (allocation) return `available (allocated to ${owner})${but}`
    if (port.range)
      return `available (the first free port in ${port.range.from}-${port.range.to})${but}`
    return `available${but}`
  }
  switch (port.reason) {
    case 'port_allocated':
      return `free, but the registry allocates it to ${owner}`
    case 'range_exhausted':
      return port.message
    case 'bind_failed':
    case 'published':
      return port.check ? checkSummary(port.check) : port.message
    case 'in_use':
    default: {
      let text = `in use by ${describeHoldersBriefly(port.holders, now)}`
      if (port.heldByProject)
        text +=
          port.service === null
            ? ', started from this project'
            : `, started from this project (is ${displayName(port.service)} already running?)`
      if (foreign) text += `; the registry allocates it to ${owner}`
      return text
    }
  }
}

function tag(status: 'pass' | 'warn' | 'fail', style: Style): string {
  if (status === 'pass') return style.pass('[PASS]')
  if (status === 'warn') return style.warn('[WARN]')
  return style.fail('[FAIL]')
}

const FIX_INDENT = '       '

/** The PASS/FAIL table of `preflight`, each failure followed by its fix, and a summary line. */
export function renderPreflight(result: PreflightResult, style: Style, now = Date.now()): string {
  const lines: string[] = []
  for (const port of result.ports) {
    lines.push(
      `${tag(preflightStatus(port), style)} ${portSubject(port)}: ${portVerdict(port, result.project, now)}`,
    )
    if (!port.ok && port.fix)
      lines.push(`${FIX_INDENT}${style.dim('fix:')} ${displayName(port.fix)}`)
  }
  const total = result.ports.length
  const failed = result.ports.filter((p) => !p.ok).length
  const where = result.manifest
    ? `project ${displayName(result.project)}, ${shownPath(result.manifest.path)}`
    : `project ${displayName(result.project)}`
  // Ports given with --port are not declared anywhere.
  const ports = (n: number) => `${result.manifest ? 'declared ' : ''}port${n === 1 ? '' : 's'}`
  if (total === 0) lines.push(`No ports declared (${where}).`)
  else if (failed === 0)
    lines.push(
      `${total === 1 ? `The ${ports(1)}` : `All ${total} ${ports(total)}`} can be taken (${where}).`,
    )
  else lines.push(style.bold(`${failed} of ${total} ${ports(total)} cannot be taken (${where}).`))
  return lines.join('\n')
}

const SECTION_TITLES = {
  manifest: 'Manifest',
  ports: 'Ports',
  registry: 'Registry',
  health: 'Health',
} as const

/** `doctor`: the checks by section, then a summary. */
export function renderDoctor(report: DoctorReport, style: Style, now = Date.now()): string {
  const lines: string[] = []
  let section: DoctorCheck['section'] | null = null
  for (const check of report.checks) {
    if (check.section !== section) {
      if (section !== null) lines.push('')
      section = check.section
      lines.push(style.bold(SECTION_TITLES[section]))
    }
    lines.push(`${tag(check.status, style)} ${doctorLine(check, report.project, now)}`)
    if (check.status !== 'pass' && check.fix)
      lines.push(`${FIX_INDENT}${style.dim('fix:')} ${displayName(check.fix)}`)
  }
  const { pass, warn, fail } = report.summary
  const summary = `${pass} passed, ${warn} warning${warn === 1 ? '' : 's'}, ${fail} failed.`
  lines.push(
    '',
    fail > 0 ? style.fail(summary) : warn > 0 ? style.warn(summary) : style.pass(summary),
  )
  return lines.join('\n')
}

function doctorLine(check: DoctorCheck, project: string, now: number): string {
  if (check.section === 'manifest' && check.subject.startsWith('/'))
    return `${shownPath(check.subject)}: ${check.message}`
  if (check.port && check.status !== 'warn') {
    const port = check.port
    if (!port.ok && port.heldByProject && check.status === 'pass') {
      return `${check.subject}: running: held by ${describeHoldersBriefly(port.holders, now)}, started from this project`
    }
    return `${check.subject}: ${portVerdict(port, project, now)}`
  }
  return check.subject === check.section ? check.message : `${check.subject}: ${check.message}`
}
