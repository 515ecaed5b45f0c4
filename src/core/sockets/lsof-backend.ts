import { execFileSync } from 'node:child_process'
import { PortwardenError, errnoOf } from '../errors.js'
import { describeContainerProxy } from '../containers/roles.js'
import type { Holder, SocketEntry, Warning } from '../types.js'
import type { ListSocketsOptions } from './query.js'
import { isListening } from './query.js'
import type { LsofSocketRow } from './parse-lsof.js'
import { parseElapsed, parseLsofFields } from './parse-lsof.js'

/**
 * The declared fallback for systems without /proc/net (macOS, BSD): `lsof -F` field output,
 * which is meant for programs, plus one `ps` call for command lines and start times.
 * It sees only sockets that some visible process holds: no TIME-WAIT, no other users' sockets
 * unless root.
 */
export function listSocketsWithLsof(options: ListSocketsOptions): {
  sockets: SocketEntry[]
  warnings: Warning[]
} {
  const args = ['-nP', '-w', '-F', 'pcuLftPnTd0']
  const selections = (options.ports ?? []).map((spec) => {
    const proto = spec.protocol.toUpperCase()
    return spec.from === spec.to ? `${proto}:${spec.from}` : `${proto}:${spec.from}-${spec.to}`
  })
  if (selections.length === 0) {
    const protocols = options.protocols ?? ['tcp', 'udp']
    selections.push(...(protocols.length === 1 ? [protocols[0]!.toUpperCase()] : ['']))
  }
  for (const selection of selections) args.push(`-i${selection}`)
  if (options.pid !== undefined) args.push('-a', '-p', String(options.pid))
  const rows = parseLsofFields(runLsof(args)).filter((row) => {
    if (options.protocols && !options.protocols.includes(row.protocol)) return false
    if (options.families && !options.families.includes(row.family)) return false
    if (!options.all && !isListening(row.protocol, row.state)) return false
    if (options.processName !== undefined && row.command !== options.processName) return false
    return true
  })
  const details = options.withProcesses === false ? new Map() : readProcessDetails(rows)
  const bySocket = new Map<string, { rows: LsofSocketRow[] }>()
  for (const row of rows) {
    const key = `${row.protocol}|${row.device}|${row.localAddress}|${row.localPort}|${row.remoteAddress}|${row.remotePort}`
    const group = bySocket.get(key)
    if (group) group.rows.push(row)
    else bySocket.set(key, { rows: [row] })
  }
  const sockets: SocketEntry[] = []
  for (const { rows: group } of bySocket.values()) {
    const first = group[0]!
    const processes: Holder[] = []
    if (options.withProcesses !== false) {
      for (const row of group) {
        if (processes.some((p) => p.pid === row.pid)) continue
        const detail = details.get(row.pid)
        processes.push({
          pid: row.pid,
          name: row.command,
          command: detail?.command ?? row.command,
          user: row.user ?? String(row.uid),
          uid: row.uid,
          startedAt: detail?.startedAt ?? null,
          startTicks: null,
          container: describeContainerProxy(row.command, detail?.command ?? ''),
        })
      }
      processes.sort((a, b) => a.pid - b.pid)
    }
    sockets.push({
      protocol: first.protocol,
      family: first.family,
      state: first.state,
      localAddress: first.localAddress,
      localPort: first.localPort,
      remoteAddress: first.remoteAddress,
      remotePort: first.remotePort,
      inode: /^[0-9]+$/.test(first.device) ? Number(first.device) : 0,
      uid: first.uid,
      user: first.user ?? String(first.uid),
      processes,
    })
  }
  sockets.sort(
    (a, b) =>
      a.protocol.localeCompare(b.protocol) || a.localPort - b.localPort || a.inode - b.inode,
  )
  const warnings: Warning[] = []
  if (process.getuid?.() !== 0) {
    warnings.push({
      code: 'partial_visibility',
      message:
        'lsof shows only sockets of processes you may inspect: run as root to see every socket.',
    })
  }
  return { sockets, warnings }
}

let lsofChecked: boolean | undefined

export function lsofAvailable(): boolean {
  if (lsofChecked === undefined) {
    try {
      execFileSync('lsof', ['-v'], { stdio: 'ignore' })
      lsofChecked = true
    } catch (error) {
      // `lsof -v` exits 1 on some builds yet prints its version; only ENOENT means absent.
      lsofChecked = errnoOf(error) !== 'ENOENT'
    }
  }
  return lsofChecked
}

function runLsof(args: string[]): string {
  try {
    return execFileSync('lsof', args, {
      encoding: 'utf8',
      maxBuffer: 1 << 30,
      stdio: ['ignore', 'pipe', 'ignore'],
    })
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') {
      throw new PortwardenError(
        'backend_unavailable',
        'The lsof backend was requested but lsof is not installed.',
        {
          hint: 'Install lsof, or use --backend proc on Linux.',
        },
      )
    }
    // lsof exits 1 when it finds nothing (or only some of what was asked): use what it printed.
    const stdout = (error as { stdout?: unknown }).stdout
    if (typeof stdout === 'string') return stdout
    throw new PortwardenError('backend_unavailable', 'lsof failed to run.', { cause: error })
  }
}

/** Command lines and start times for the holders, in one `ps` call. */
function readProcessDetails(
  rows: readonly LsofSocketRow[],
): Map<number, { command: string; startedAt: string | null }> {
  const details = new Map<number, { command: string; startedAt: string | null }>()
  const pids = [...new Set(rows.map((row) => row.pid))]
  if (pids.length === 0) return details
  let text: string
  try {
    text = execFileSync('ps', ['-ww', '-o', 'pid=,etime=,args=', '-p', pids.join(',')], {
      encoding: 'utf8',
      maxBuffer: 1 << 28,
      stdio: ['ignore', 'pipe', 'ignore'],
    })
  } catch (error) {
    const stdout = (error as { stdout?: unknown }).stdout
    if (typeof stdout !== 'string') return details
    text = stdout
  }
  const now = Date.now()
  for (const line of text.split('\n')) {
    const match = /^\s*(\d+)\s+(\S+)\s(.*)$/.exec(line)
    if (!match) continue
    const elapsed = parseElapsed(match[2]!)
    details.set(Number(match[1]), {
      command: match[3]!.trim(),
      startedAt:
        elapsed === null
          ? null
          : new Date(Math.floor((now - elapsed * 1000) / 1000) * 1000)
              .toISOString()
              .replace(/\.\d{3}Z$/, 'Z'),
    })
  }
  return details
}
