import { SOCKET_STATES } from '../types.js'
import type { Family, Protocol, RawSocket, SocketState } from '../types.js'
import { parseHexIPv4, parseHexIPv6 } from './inet-address.js'

/** Kernel TCP state numbers (include/net/tcp_states.h) with the names `ss` prints. */

export function stateName(protocol: Protocol, code: number): SocketState {
  if (protocol === 'udp') return code === 1 ? 'ESTAB' : code === 7 ? 'UNCONN' : 'UNKNOWN'
  // The kernel numbers TCP states from 1 in SOCKET_STATES order.
  return SOCKET_STATES[code - 1] ?? 'UNKNOWN'
}

/** Decides cheaply, before an address is decoded, whether a row is wanted. */
export type RowFilter = (state: SocketState, localPort: number) => boolean

/**
 * Parses the text of `/proc/net/{tcp,tcp6,udp,udp6}`. Pure and total: malformed lines are
 * skipped, never thrown on, because the text comes from a kernel we do not control. A table
 * larger than one read() is not a snapshot: sockets opened or closed between reads shift the
 * kernel's position, and a row can come twice. A socket is one inode, so a repeat is dropped
 * (inode 0, TIME-WAIT and the like, names no socket and is kept).
 */
export function parseProcNet(
  text: string,
  protocol: Protocol,
  family: Family,
  filter?: RowFilter,
): RawSocket[] {
  const sockets: RawSocket[] = []
  const seen = new Set<number>()
  const addressLength = family === 'ipv4' ? 8 : 32
  let lineStart = text.indexOf('\n') + 1 // the first line is the header
  if (lineStart === 0) return sockets
  while (lineStart < text.length) {
    let lineEnd = text.indexOf('\n', lineStart)
    if (lineEnd < 0) lineEnd = text.length
    const start = lineStart
    lineStart = lineEnd + 1
    // Most rows are not wanted (one port of 100k sockets): judge them from the kernel's fixed
    // layout, `%4d: LOCAL:PORT REMOTE:PORT ST`, before paying for a split. Rows that do not
    // fit that layout go through the full parse below, which checks everything.
    const verdict = filter
      ? quickFilter(text, start, lineEnd, protocol, addressLength, filter)
      : 'keep'
    if (verdict === 'drop') continue
    const fields = text.slice(start, lineEnd).trim().split(/\s+/)
    // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...
    if (fields.length < 10) continue
    const local = fields[1] as string
    const remote = fields[2] as string
    if (local.length !== addressLength + 5 || remote.length !== addressLength + 5) continue
    if (local[addressLength] !== ':' || remote[addressLength] !== ':') continue
    const localPort = parseHex(local, addressLength + 1)
    const stateCode = parseHex(fields[3] as string, 0)
    if (localPort < 0 || stateCode < 0) continue
    const state = stateName(protocol, stateCode)
    if (verdict === 'unsure' && filter && !filter(state, localPort)) continue
    const remotePort = parseHex(remote, addressLength + 1)
    const uid = parseDecimal(fields[7] as string)
    const inode = parseDecimal(fields[9] as string)
    if (remotePort < 0 || uid < 0 || inode < 0) continue
    const decode = family === 'ipv4' ? parseHexIPv4 : parseHexIPv6
    const localHex = local.slice(0, addressLength)
    const remoteHex = remote.slice(0, addressLength)
    if (!isHex(localHex) || !isHex(remoteHex)) continue
    if (inode !== 0) {
      if (seen.has(inode)) continue
      seen.add(inode)
    }
    sockets.push({
      protocol,
      family,
      state,
      localAddress: decode(localHex),
      localPort,
      remoteAddress: decode(remoteHex),
      remotePort,
      inode,
      uid,
    })
  }
  return sockets
}

/** The filter's verdict from the fixed layout, or `unsure` when the row does not fit it. */
function quickFilter(
  text: string,
  start: number,
  end: number,
  protocol: Protocol,
  addressLength: number,
  filter: RowFilter,
): 'keep' | 'drop' | 'unsure' {
  const colon = text.indexOf(': ', start)
  if (colon < 0 || colon > end) return 'unsure'
  const local = colon + 2
  const remote = local + addressLength + 6
  const state = remote + addressLength + 6
  if (state + 2 > end || text.charCodeAt(local + addressLength) !== 58) return 'unsure'
  if (text.charCodeAt(remote - 1) !== 32 || text.charCodeAt(state - 1) !== 32) return 'unsure'
  const portText = text.slice(local + addressLength + 1, local + addressLength + 5)
  const stateText = text.slice(state, state + 2)
  if (!HEX4.test(portText) || !HEX2.test(stateText)) return 'unsure'
  return filter(stateName(protocol, parseInt(stateText, 16)), parseInt(portText, 16))
    ? 'keep'
    : 'drop'
}

const HEX4 = /^[0-9A-Fa-f]{4}$/
const HEX2 = /^[0-9A-Fa-f]{2}$/

function parseHex(text: string, start: number): number {
  const digits = text.slice(start)
  if (digits.length === 0 || digits.length > 8 || !isHex(digits)) return -1
  return parseInt(digits, 16)
}

function parseDecimal(text: string): number {
  if (!/^[0-9]{1,15}$/.test(text)) return -1
  return Number(text)
}

function isHex(text: string): boolean {
  return /^[0-9A-Fa-f]+$/.test(text)
}
