import { describeJudgement } from '../../core/stale/verdict.js'
import type { PortCheck } from '../../core/check-port.js'
import type { NamespaceHolders } from '../../core/other-namespaces.js'
import type { Protocol, SocketEntry } from '../../core/types.js'
import type { ListSocketsOptions } from '../../core/sockets/query.js'
import type { PortHolders } from '../../core/who-holds.js'
import { formatEndpoint } from '../../core/addresses.js'
import { publishersFix } from '../../core/containers/published-ports.js'
import {
  publishedSentence,
  checkSummary,
  containerFix,
  describeNamedContainer,
  displayName,
  holderContainerLabel,
  hiddenHolderReason,
  namespaceSuffix,
  otherNamespaceSentence,
  otherProtocolSentence,
  outOfSightSentence,
  portInUseSentence,
  kernelFix,
  kernelHeldBy,
  rootlessHelperNote,
  rootWouldSeeHolder,
  timeWaitCaveat,
} from '../../core/messages.js'
import type { Style } from './style.js'
import { displayWidth, fitToWidth, padToWidth } from './display-width.js'

/** `3h12m`, `2d4h`, `45s` */
export function renderUptime(startedAt: string | null, now = Date.now()): string {
  if (!startedAt) return '?'
  let seconds = Math.max(0, Math.floor((now - Date.parse(startedAt)) / 1000))
  const days = Math.floor(seconds / 86400)
  seconds -= days * 86400
  const hours = Math.floor(seconds / 3600)
  seconds -= hours * 3600
  const minutes = Math.floor(seconds / 60)
  seconds -= minutes * 60
  if (days > 0) return `${days}d${hours}h`
  if (hours > 0) return `${hours}h${minutes}m`
  if (minutes > 0) return `${minutes}m${seconds}s`
  return `${seconds}s`
}

/** Columns padded to the widest cell, in terminal columns; each line cut to `width` if given. */
export function renderTable(rows: string[][], width: number | undefined): string {
  if (rows.length === 0) return ''
  const columns = rows[0]!.length
  const widths = new Array<number>(columns).fill(0)
  for (const row of rows)
    row.forEach((cell, i) => (widths[i] = Math.max(widths[i]!, displayWidth(cell))))
  return rows
    .map((row) => {
      const line = row
        .map((cell, i) => (i === columns - 1 ? cell : padToWidth(cell, widths[i]!)))
        .join('  ')
        .trimEnd()
      return width === undefined ? line : fitToWidth(line, width)
    })
    .join('\n')
}

function processCell(socket: SocketEntry): string {
  if (socket.processes.length === 0 && socket.kernel)
    return `kernel: ${displayName(socket.kernel.description)}`
  if (socket.processes.length === 0)
    return socket.state === 'TIME-WAIT' ? '-' : `? (uid ${socket.uid}, not visible)`
  const byName = new Map<string, number[]>()
  for (const holder of socket.processes) {
    const name = displayName(holder.name)
    byName.set(name, [...(byName.get(name) ?? []), holder.pid])
  }
  const cell = [...byName].map(([name, pids]) => `${name}[${pids.join(',')}]`).join(' ')
  // The container a proxy or dockerd stands for, once the engine named it.
  const named = socket.processes.find((h) => h.dockerContainer)?.dockerContainer
  return named ? `${cell} for container ${describeNamedContainer(named)}` : cell
}

/** `host` (this process's own), the ip-netns or container name, a container's short id, or the inode. */
function netnsCell(socket: SocketEntry): string {
  const tag = socket.netns
  if (!tag || tag.host) return 'host'
  if (tag.name !== null) return displayName(tag.name)
  return tag.containerId !== null ? tag.containerId.slice(0, 12) : String(tag.inode)
}

/** Shown one by one up to this many; the rest in one line (JSON has them all). */
const NAMESPACE_NOTES = 3

/** A free port's listeners in other namespaces, a sentence each, then how many more. */
function namespaceNotes(
  protocol: Protocol,
  port: number,
  elsewhere: readonly NamespaceHolders[] = [],
): string[] {
  const shown = elsewhere.length > NAMESPACE_NOTES + 1 ? NAMESPACE_NOTES : elsewhere.length
  const notes = elsewhere.slice(0, shown).map((e) => otherNamespaceSentence(protocol, port, e))
  const more = elsewhere.length - shown
  if (more > 0)
    notes.push(
      `${more} more network namespaces hold it too (who ${port}/${protocol} --all-namespaces lists them)`,
    )
  return notes
}

/** The `list` table, like `ss -tulpn` with the user and command line spelled out. */
export function renderSocketTable(
  sockets: readonly SocketEntry[],
  query: ListSocketsOptions,
  width?: number,
): string {
  if (sockets.length === 0) return emptyListingSentence(query)
  const options = { all: query.all === true, width, namespaces: query.allNamespaces === true }
  const header = [
    ...(options.namespaces ? ['NETNS'] : []),
    'PROTO',
    'STATE',
    'LOCAL',
    ...(options.all ? ['REMOTE'] : []),
    'PROCESS',
    'USER',
    'COMMAND',
  ]
  const rows = sockets.map((s) => [
    ...(options.namespaces ? [netnsCell(s)] : []),
    s.family === 'ipv6' ? `${s.protocol}6` : s.protocol,
    s.state,
    formatEndpoint(s.localAddress, s.localPort),
    ...(options.all
      ? [
          s.remotePort === 0 && /^(0\.0\.0\.0|::)$/.test(s.remoteAddress)
            ? '*'
            : formatEndpoint(s.remoteAddress, s.remotePort),
        ]
      : []),
    processCell(s),
    displayName(s.processes[0]?.user ?? s.user),
    displayName(s.processes[0]?.command ?? ''),
  ])
  return renderTable([header, ...rows], options.width)
}

/** What an empty `list` found nothing of, in words that fit UDP as well as TCP. */
function emptyListingSentence(query: ListSocketsOptions): string {
  const filtered =
    query.ports !== undefined || query.pid !== undefined || query.processName !== undefined
  if (query.all === true) return filtered ? 'No sockets match.' : 'No sockets.'
  const protocols = query.protocols ?? ['tcp', 'udp']
  const kinds = protocols.map((p) => (p === 'tcp' ? 'listening TCP' : 'bound UDP')).join(' or ')
  // Without --all a TCP connection or a connected UDP socket is left out: say so.
  return filtered
    ? `No sockets match (${kinds} sockets only; --all adds every state).`
    : `No ${kinds} sockets.`
}

/** ` (looks stale: orphaned 3 days ago, …, no connections)` when the evidence says so. */
function staleSuffix(entry: PortHolders, pid: number): string {
  const judgement = entry.judgements?.find((j) => j.pid === pid)
  const text = judgement ? describeJudgement(judgement) : null
  return text === null ? '' : ` (${displayName(text)})`
}

/** `who`: the sentence, then one line per holder with everything needed to decide what to do. */
export function renderWho(entries: readonly PortHolders[], style: Style, now = Date.now()): string {
  const blocks: string[] = []
  for (const entry of entries) {
    const label = `${entry.protocol.toUpperCase()} port ${entry.port}`
    if (entry.sockets.length === 0) {
      const fix = publishersFix(entry.publishers)
      blocks.push(
        entry.heldOutOfSight
          ? `${outOfSightSentence(entry.protocol, entry.port)}.`
          : fix !== null
            ? `${style.bold(publishedSentence(entry.protocol, entry.port, entry.publishers))}.\n  fix: ${fix}`
            : `${label} is free${entry.netns ? ' in this network namespace' : ''}: no process holds it.`,
      )
      if (entry.otherProtocol)
        blocks.push(style.dim(`  note: ${otherProtocolSentence(entry.port, entry.otherProtocol)}.`))
      for (const note of namespaceNotes(entry.protocol, entry.port, entry.otherNamespaces))
        blocks.push(style.dim(`  note: ${note}.`))
      continue
    }
    const lines = [
      style.bold(
        `${portInUseSentence(entry.protocol, entry.port, entry.sockets)}${namespaceSuffix(entry.netns)}`,
      ),
    ]
    const seen = new Set<number>()
    for (const socket of entry.sockets) {
      for (const holder of socket.processes) {
        if (seen.has(holder.pid)) continue
        seen.add(holder.pid)
        const label = holderContainerLabel(holder)
        const container = label !== null ? `  container ${label}` : ''
        lines.push(
          `  pid ${holder.pid}  ${displayName(holder.name)}  user ${displayName(holder.user)}  up ${renderUptime(holder.startedAt, now)}${container}${staleSuffix(entry, holder.pid)}`,
          `    command: ${displayName(holder.command) || '(none)'}`,
        )
        const rootless = rootlessHelperNote(holder)
        if (rootless !== null) lines.push(style.dim(`    note: ${rootless}`))
      }
    }
    const stopContainer = containerFix(entry.sockets)
    if (stopContainer !== null) lines.push(`  fix: ${stopContainer}`)
    const kernelHeld = kernelHeldBy(entry.sockets)
    if (seen.size === 0 && kernelHeld !== null) {
      // No task holds it, and every task's fd table was seen: nothing to signal.
      lines.push(style.dim(`  no process holds it (every process's open files were seen)`))
      const fix = kernelFix(entry.sockets)
      if (fix !== null) lines.push(`  fix: ${fix}`)
    } else if (seen.size === 0) {
      const uids = entry.sockets.map((s) => s.uid)
      const owner = `owner uid ${uids[0]} (${displayName(entry.sockets[0]!.user)})`
      const advice = rootWouldSeeHolder(uids)
        ? `run as root (sudo portwarden who ${entry.port}/${entry.protocol}) to see the process`
        : `its process ${hiddenHolderReason(uids)}`
      lines.push(style.dim(`  ${owner}; ${advice}`))
    }
    if (entry.connections > 0) {
      lines.push(
        style.dim(
          `  and ${entry.connections} connection${entry.connections === 1 ? '' : 's'} on this port`,
        ),
      )
    }
    blocks.push(lines.join('\n'))
  }
  return blocks.join('\n')
}

/**
 * `check`: `[PASS] 8080/tcp: available` / `[FAIL] 8080/tcp: in use by node (pid 4242, ...)` /
 * `[WARN] 8080/tcp: available, but 1 TIME-WAIT socket ...` (exit 0 all the same).
 */
export function renderChecks(checks: readonly PortCheck[], style: Style): string {
  return checks
    .map((check) => {
      const tag = !check.free
        ? style.fail('[FAIL]')
        : timeWaitCaveat(check)
          ? style.warn('[WARN]')
          : style.pass('[PASS]')
      const stale = (check.judgements ?? []).flatMap((j) => {
        const text = describeJudgement(j)
        return text === null ? [] : [`\n       pid ${j.pid} ${displayName(text)}`]
      })
      const line = `${tag} ${check.port}/${check.protocol}: ${checkSummary(check)}${stale.join('')}`
      const fix =
        publishersFix(check.publishers) ??
        (check.free ? null : (kernelFix(check.holders) ?? containerFix(check.holders)))
      const notes = [
        ...(check.otherProtocol ? [otherProtocolSentence(check.port, check.otherProtocol)] : []),
        ...namespaceNotes(check.protocol, check.port, check.otherNamespaces),
      ]
      const note = notes.map((n) => `\n       note: ${n}`).join('')
      return (fix !== null ? `${line}\n       fix: ${fix}` : line) + note
    })
    .join('\n')
}
