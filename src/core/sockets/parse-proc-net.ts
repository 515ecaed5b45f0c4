import type { Family, Protocol, RawSocket, SocketState } from '../types.js'
import { parseHexIPv4, parseHexIPv6 } from './inet-address.js'

/** Kernel TCP state numbers (include/net/tcp_states.h) with the names `ss` prints. */
const TCP_STATES: Record<number, SocketState> = {
  1: 'ESTAB',
  2: 'SYN-SENT',
  3: 'SYN-RECV',
  4: 'FIN-WAIT-1',
  5: 'FIN-WAIT-2',
  6: 'TIME-WAIT',
  7: 'UNCONN',
  8: 'CLOSE-WAIT',
  9: 'LAST-ACK',
  10: 'LISTEN',
  11: 'CLOSING',
  12: 'NEW-SYN-RECV',
}

export function stateName(protocol: Protocol, code: number): SocketState {
  if (protocol === 'udp') return code === 1 ? 'ESTAB' : code === 7 ? 'UNCONN' : 'UNKNOWN'
  return TCP_STATES[code] ?? 'UNKNOWN'
}

/** Decides cheaply, before an address is decoded, whether a row is wanted. */
export type RowFilter = (state: SocketState, localPort: number) => boolean

/**
 * Parses the text of `/proc/net/{tcp,tcp6,udp,udp6}`. Pure and total: malformed lines are
 * skipped, never thrown on, because the text comes from a kernel we do not control.
 */
export function parseProcNet(
  text: string,
  protocol: Protocol,
  family: Family,
  filter?: RowFilter,
): RawSocket[] {
  const sockets: RawSocket[] = []
  const addressLength = family === 'ipv4' ? 8 : 32
  let lineStart = text.indexOf('\n') + 1 // the first line is the header
  if (lineStart === 0) return sockets
  while (lineStart < text.length) {
    let lineEnd = text.indexOf('\n', lineStart)
    if (lineEnd < 0) lineEnd = text.length
    const fields = text.slice(lineStart, lineEnd).trim().split(/\s+/)
    lineStart = lineEnd + 1
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
    if (filter && !filter(state, localPort)) continue
    const remotePort = parseHex(remote, addressLength + 1)
    const uid = parseDecimal(fields[7] as string)
    const inode = parseDecimal(fields[9] as string)
    if (remotePort < 0 || uid < 0 || inode < 0) continue
    const decode = family === 'ipv4' ? parseHexIPv4 : parseHexIPv6
    const localHex = local.slice(0, addressLength)
    const remoteHex = remote.slice(0, addressLength)
    if (!isHex(localHex) || !isHex(remoteHex)) continue
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
