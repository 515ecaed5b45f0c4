import { release } from 'node:os'
import { netlinkAvailable } from '../../src/core/sockets/netlink-backend.js'
/**
 * The oracle side: `ss -tuanpH` parsed into comparable rows, and the normalisation that lets a
 * row of ss and a socket of portwarden's `--json` be compared key by key. Written against ss's
 * output format, not against portwarden's code, so that the two stay independent. Also a bind
 * test the tests use to see that a port is free, independent of portwarden's own.
 */
import { createSocket } from 'node:dgram'
import { createServer } from 'node:net'
import { runCommand } from './cli.js'

/** The portwarden wire shape (SPEC.md), as `list --json` prints it. */
export interface WireHolder {
  pid: number
  name: string
  command: string
  user: string
  started_at: string | null
  container: string | null
}

export interface WireSocket {
  protocol: 'tcp' | 'udp'
  family: 'ipv4' | 'ipv6'
  state: string
  local_address: string
  local_port: number
  remote_address: string
  remote_port: number
  inode: number
  uid: number
  user: string
  processes: WireHolder[]
  /** Only in a listing of every network namespace. */
  netns?: { inode: number; name: string | null; container_id: string | null; host: boolean }
}

/** One comparable socket: everything but the pids in `key`, the pids as a sorted list. */
export interface Row {
  key: string
  protocol: string
  localAddress: string
  localPort: number
  remoteAddress: string
  remotePort: number
  pids: number[]
  text: string
}

/**
 * Canonical text for an IP address: IPv6 through the WHATWG URL serialiser (RFC 5952
 * compression, lower case; v4-mapped printed in hex), IPv4 as is. Both sides go through it.
 */
export function canonicalAddress(address: string): string {
  if (!address.includes(':')) return address
  return new URL(`http://[${address}]/`).hostname.slice(1, -1)
}

function rowKey(
  protocol: string,
  state: string,
  local: string,
  localPort: number,
  remote: string,
  remotePort: number,
): string {
  return `${protocol} ${state} ${canonicalAddress(local)}:${localPort} ${canonicalAddress(remote)}:${remotePort}`
}

/**
 * `127.0.0.1:80`, `[::1]:80`, `*:80` (IPv6 any, dual-stack), `0.0.0.0:*`, `127.0.0.53%lo:53`,
 * `[fe80::1]%eth0:123` → address and port.
 */
export function parseSsEndpoint(text: string): { address: string; port: number } {
  const colon = text.lastIndexOf(':')
  if (colon < 0) throw new Error(`unexpected ss endpoint ${JSON.stringify(text)}`)
  const portText = text.slice(colon + 1)
  let host = text.slice(0, colon)
  const percent = host.lastIndexOf('%')
  if (percent >= 0 && !host.slice(percent).includes(']')) host = host.slice(0, percent) // `%iface` suffix
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1)
  if (host === '*') host = '::' // ss prints `*` for a dual-stack IPv6 wildcard socket
  const port = portText === '*' ? 0 : Number(portText)
  if (!Number.isInteger(port)) throw new Error(`unexpected ss port in ${JSON.stringify(text)}`)
  return { address: host, port }
}

export function parseSsLine(line: string): Row {
  const fields = line.trim().split(/\s+/)
  if (fields.length < 6) throw new Error(`unexpected ss line ${JSON.stringify(line)}`)
  const [netid, state, , , localText, peerText] = fields as [
    string,
    string,
    string,
    string,
    string,
    string,
  ]
  const processText = fields.slice(6).join(' ')
  const local = parseSsEndpoint(localText)
  const peer = parseSsEndpoint(peerText)
  const pids = [...new Set([...processText.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1])))].sort(
    (a, b) => a - b,
  )
  return {
    key: rowKey(netid, state, local.address, local.port, peer.address, peer.port),
    protocol: netid,
    localAddress: canonicalAddress(local.address),
    localPort: local.port,
    remoteAddress: canonicalAddress(peer.address),
    remotePort: peer.port,
    pids,
    text: line.trim(),
  }
}

export async function ssSnapshot(): Promise<Row[]> {
  const result = await runCommand('ss', ['-tuanpH'], { timeoutMs: 60_000 })
  if (result.code !== 0) throw new Error(`ss -tuanpH failed (${result.code}): ${result.stderr}`)
  return result.stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map(parseSsLine)
}

export function wireRow(socket: WireSocket): Row {
  return {
    key: rowKey(
      socket.protocol,
      socket.state,
      socket.local_address,
      socket.local_port,
      socket.remote_address,
      socket.remote_port,
    ),
    protocol: socket.protocol,
    localAddress: canonicalAddress(socket.local_address),
    localPort: socket.local_port,
    remoteAddress: canonicalAddress(socket.remote_address),
    remotePort: socket.remote_port,
    pids: [...new Set(socket.processes.map((p) => p.pid))].sort((a, b) => a - b),
    text: JSON.stringify(socket),
  }
}

/** Multiset of `key + pids` strings. */
export function tally(rows: readonly Row[]): Map<string, number> {
  const counts = new Map<string, number>()
  for (const row of rows) {
    const id = `${row.key} pids=[${row.pids.join(',')}]`
    counts.set(id, (counts.get(id) ?? 0) + 1)
  }
  return counts
}

/** Entries of `a` (with multiplicity) not matched in `b`. */
export function minus(
  a: ReadonlyMap<string, number>,
  b: ReadonlyMap<string, number>,
): Map<string, number> {
  const out = new Map<string, number>()
  for (const [id, count] of a) {
    const left = count - (b.get(id) ?? 0)
    if (left > 0) out.set(id, left)
  }
  return out
}

export function intersect(
  a: ReadonlyMap<string, number>,
  b: ReadonlyMap<string, number>,
): Map<string, number> {
  const out = new Map<string, number>()
  for (const [id, count] of a) {
    const both = Math.min(count, b.get(id) ?? 0)
    if (both > 0) out.set(id, both)
  }
  return out
}

/** Can both a TCP and a UDP socket bind the port on every address right now? */
export function portIsFree(port: number): Promise<boolean> {
  const tcp = new Promise<boolean>((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen({ port, host: '::', ipv6Only: false, exclusive: true }, () =>
      server.close(() => resolve(true)),
    )
  })
  const udp = new Promise<boolean>((resolve) => {
    const socket = createSocket({ type: 'udp6', ipv6Only: false })
    socket.once('error', () => {
      socket.close()
      resolve(false)
    })
    socket.bind({ port, address: '::', exclusive: true }, () => socket.close(() => resolve(true)))
  })
  return Promise.all([tcp, udp]).then(([a, b]) => a && b)
}

/**
 * Whether sock_diag lists TCP sockets bound without listen() here (TCP_BOUND_INACTIVE: the
 * addon's netlink backend on Linux 6.5+); /proc/net never does.
 */
export function boundInactiveVisible(): boolean {
  if (process.env.PORTWARDEN_NO_NATIVE === '1' || !netlinkAvailable()) return false
  const [major = 0, minor = 0] = release().split('.').map(Number)
  return major > 6 || (major === 6 && minor >= 5)
}
