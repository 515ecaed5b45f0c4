import type { Family, Protocol, SocketState } from '../types.js'
import { normalizeAddress } from './inet-address.js'

/** One internet socket as `lsof -F pcuLftPnTd0` describes it, before grouping by socket. */
export interface LsofSocketRow {
  pid: number
  command: string
  uid: number
  user: string | null
  /** The socket's identity: on Linux the inode, on macOS a kernel address. */
  device: string
  protocol: Protocol
  family: Family
  state: SocketState
  localAddress: string
  localPort: number
  remoteAddress: string
  remotePort: number
}

const LSOF_TCP_STATES: Record<string, SocketState> = {
  LISTEN: 'LISTEN',
  ESTABLISHED: 'ESTAB',
  SYN_SENT: 'SYN-SENT',
  SYN_RECV: 'SYN-RECV',
  SYN_RCVD: 'SYN-RECV',
  FIN_WAIT1: 'FIN-WAIT-1',
  FIN_WAIT_1: 'FIN-WAIT-1',
  FIN_WAIT2: 'FIN-WAIT-2',
  FIN_WAIT_2: 'FIN-WAIT-2',
  TIME_WAIT: 'TIME-WAIT',
  CLOSE: 'UNCONN',
  CLOSED: 'UNCONN',
  CLOSE_WAIT: 'CLOSE-WAIT',
  LAST_ACK: 'LAST-ACK',
  CLOSING: 'CLOSING',
}

/**
 * Parses `lsof -F pcuLftPnTd0` output: NUL-terminated fields, one set per line, `p` starting a
 * process and `f` a file. Pure and total: anything unexpected is skipped.
 */
export function parseLsofFields(text: string): LsofSocketRow[] {
  const rows: LsofSocketRow[] = []
  let process: { pid: number; command: string; uid: number; user: string | null } | null = null
  for (const line of text.split('\n')) {
    const fields = line.split('\0').filter((field) => field.length > 0)
    const first = fields[0]
    if (first === undefined) continue
    if (first[0] === 'p') {
      process = { pid: Number(first.slice(1)), command: '', uid: -1, user: null }
      for (const field of fields.slice(1)) {
        if (field[0] === 'c') process.command = field.slice(1)
        else if (field[0] === 'u') process.uid = Number(field.slice(1))
        else if (field[0] === 'L') process.user = field.slice(1)
      }
      if (!Number.isSafeInteger(process.pid) || process.pid <= 0) process = null
      continue
    }
    if (first[0] !== 'f' || !process) continue
    const file = new Map<string, string>()
    const tcpInfo = new Map<string, string>()
    for (const field of fields) {
      const id = field[0] as string
      if (id === 'T') {
        const eq = field.indexOf('=')
        if (eq > 0) tcpInfo.set(field.slice(1, eq), field.slice(eq + 1))
      } else file.set(id, field.slice(1))
    }
    const row = toRow(process, file, tcpInfo)
    if (row) rows.push(row)
  }
  return rows
}

function toRow(
  process: { pid: number; command: string; uid: number; user: string | null },
  file: Map<string, string>,
  tcpInfo: Map<string, string>,
): LsofSocketRow | null {
  const type = file.get('t')
  const family: Family | null = type === 'IPv4' ? 'ipv4' : type === 'IPv6' ? 'ipv6' : null
  const protocolText = file.get('P')
  const protocol: Protocol | null =
    protocolText === 'TCP' ? 'tcp' : protocolText === 'UDP' ? 'udp' : null
  const name = file.get('n')
  const device = file.get('d')
  if (!family || !protocol || name === undefined || !device) return null
  const arrow = name.indexOf('->')
  const local = parseEndpoint(arrow < 0 ? name : name.slice(0, arrow), family)
  const remote =
    arrow < 0
      ? { address: family === 'ipv4' ? '0.0.0.0' : '::', port: 0 }
      : parseEndpoint(name.slice(arrow + 2), family)
  if (!local || !remote) return null
  let state: SocketState
  if (protocol === 'udp') state = arrow < 0 ? 'UNCONN' : 'ESTAB'
  else state = LSOF_TCP_STATES[tcpInfo.get('ST') ?? ''] ?? 'UNKNOWN'
  return {
    pid: process.pid,
    command: process.command,
    uid: process.uid,
    user: process.user,
    device,
    protocol,
    family,
    state,
    localAddress: local.address,
    localPort: local.port,
    remoteAddress: remote.address,
    remotePort: remote.port,
  }
}

/** `127.0.0.1:80`, `[::1]:80`, `*:80` (a wildcard of the file's family). */
function parseEndpoint(text: string, family: Family): { address: string; port: number } | null {
  const colon = text.lastIndexOf(':')
  if (colon < 0) return null
  const host = text.slice(0, colon)
  const portText = text.slice(colon + 1)
  const port = portText === '*' ? 0 : Number(portText)
  if (!Number.isInteger(port) || port < 0 || port > 65535) return null
  if (host === '*') return { address: family === 'ipv4' ? '0.0.0.0' : '::', port }
  const normalized = normalizeAddress(host)
  if (!normalized) return null
  // lsof prints a v4-mapped address of an IPv6 socket as plain `127.0.0.1`; /proc says
  // `::ffff:127.0.0.1`. Keep the socket's own family, as the proc backend does.
  if (family === 'ipv6' && normalized.family === 'ipv4') {
    return { address: `::ffff:${normalized.address}`, port }
  }
  return { address: normalized.address, port }
}

/** `ps -o etime` text, `[[dd-]hh:]mm:ss`, to seconds; null when malformed. */
export function parseElapsed(text: string): number | null {
  const match = /^(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+)$/.exec(text.trim())
  if (!match) return null
  const [, days, hours, minutes, seconds] = match
  return (
    Number(days ?? 0) * 86400 + Number(hours ?? 0) * 3600 + Number(minutes) * 60 + Number(seconds)
  )
}
