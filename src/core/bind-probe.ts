import { createSocket } from 'node:dgram'
import { createServer } from 'node:net'
import { parseHost } from './addresses.js'
import { PortwardenError, errnoOf } from './errors.js'
import type { Family, Protocol } from './types.js'

/** Where a bind test tries the port. `ipv6Only` false on `::` also claims every IPv4 address. */
export interface ProbeTarget {
  host: string
  ipv6Only?: boolean
}

/** `ok`, or the errno the kernel answered (EADDRINUSE, EACCES, EADDRNOTAVAIL, ...). */
export type ProbeOutcome = 'ok' | string

export interface ProbeResult extends ProbeTarget {
  outcome: ProbeOutcome
}

/**
 * Every address a service could bind: IPv4 wildcard (conflicts with any IPv4 socket on the port)
 * and IPv6 wildcard with V6ONLY (conflicts with any IPv6 socket, `::1` included).
 */
export const EVERY_ADDRESS: readonly ProbeTarget[] = [
  { host: '0.0.0.0' },
  { host: '::', ipv6Only: true },
]

export function probeEveryAddress(protocol: Protocol, port: number): Promise<ProbeResult[]> {
  return Promise.all(EVERY_ADDRESS.map((target) => probeBind(protocol, port, target)))
}

/** Could a service bind there? An address family the host lacks does not count against it. */
export function bindSucceeded(results: readonly ProbeResult[]): boolean {
  return results.every(
    (r) => r.outcome === 'ok' || r.outcome === 'EADDRNOTAVAIL' || r.outcome === 'EAFNOSUPPORT',
  )
}

/**
 * Binds the port and lets it go at once. This is the ground truth the socket table can miss:
 * sockets in other network namespaces, bound-but-not-listening TCP sockets, hidden owners.
 * TCP binds here set SO_REUSEADDR (libuv always does), so a TIME-WAIT socket does not fail it.
 */
export function probeBind(
  protocol: Protocol,
  port: number,
  target: ProbeTarget,
): Promise<ProbeResult> {
  return protocol === 'tcp' ? probeTcp(port, target) : probeUdp(port, target)
}

function probeTcp(port: number, target: ProbeTarget): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const server = createServer()
    server.unref()
    server.once('error', (error) => resolve({ ...target, outcome: errnoOf(error) ?? 'EUNKNOWN' }))
    server.listen(
      { port, host: target.host, exclusive: true, ipv6Only: target.ipv6Only ?? false },
      () => {
        server.close(() => resolve({ ...target, outcome: 'ok' }))
      },
    )
  })
}

function probeUdp(port: number, target: ProbeTarget): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const ipv6 = target.host.includes(':')
    const socket = createSocket({
      type: ipv6 ? 'udp6' : 'udp4',
      ipv6Only: target.ipv6Only ?? false,
    })
    socket.unref()
    socket.once('error', (error) => {
      socket.close()
      resolve({ ...target, outcome: errnoOf(error) ?? 'EUNKNOWN' })
    })
    socket.bind({ port, address: target.host, exclusive: true }, () => {
      socket.close(() => resolve({ ...target, outcome: 'ok' }))
    })
  })
}

/**
 * A `--host` value as an address this machine can bind, or `invalid_request`. An address no
 * interface has fails every bind with EADDRNOTAVAIL, which the bind tests forgive (a family the
 * host lacks must not count against a port): without this, every port would pass as available
 * there though no service can bind it. Asked once, with a bind to port 0.
 */
export async function bindableHost(text: string): Promise<{ address: string; family: Family }> {
  const host = parseHost(text)
  if (!host) {
    throw new PortwardenError(
      'invalid_request',
      `Invalid --host ${JSON.stringify(text)}: not an IP address.`,
      {
        hint: 'Accepted: an IPv4 or IPv6 address such as 127.0.0.1, 0.0.0.0, ::1 or ::, or localhost.',
      },
    )
  }
  const { outcome } = await probeBind('udp', 0, { host: host.address })
  if (outcome === 'EADDRNOTAVAIL' || outcome === 'EAFNOSUPPORT') {
    const why =
      outcome === 'EADDRNOTAVAIL'
        ? 'no interface has it'
        : `${host.family === 'ipv6' ? 'IPv6' : 'IPv4'} is not available here`
    throw new PortwardenError(
      'invalid_request',
      `--host ${text} is not an address of this machine (${why}), so no service can bind it.`,
      {
        hint: "Give one of this machine's addresses (`ip -brief address` lists them), 0.0.0.0 or :: for every address, or leave --host out.",
        details: { host: text, errno: outcome },
      },
    )
  }
  return host
}
