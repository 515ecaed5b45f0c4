import { createSocket } from 'node:dgram'
import { createServer } from 'node:net'
import { errnoOf } from './errors.js'
import type { Protocol } from './types.js'

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
 * Binds the port and lets it go at once. This is the ground truth the socket table can miss:
 * sockets in other network namespaces, bound-but-not-listening TCP sockets, hidden owners.
 * TCP binds here set SO_REUSEADDR (libuv always does), so a TIME-WAIT socket does not fail it.
 */
export function probeBind(protocol: Protocol, port: number, target: ProbeTarget): Promise<ProbeResult> {
  return protocol === 'tcp' ? probeTcp(port, target) : probeUdp(port, target)
}

function probeTcp(port: number, target: ProbeTarget): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const server = createServer()
    server.unref()
    server.once('error', (error) => resolve({ ...target, outcome: errnoOf(error) ?? 'EUNKNOWN' }))
    server.listen({ port, host: target.host, exclusive: true, ipv6Only: target.ipv6Only ?? false }, () => {
      server.close(() => resolve({ ...target, outcome: 'ok' }))
    })
  })
}

function probeUdp(port: number, target: ProbeTarget): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const ipv6 = target.host.includes(':')
    const socket = createSocket({ type: ipv6 ? 'udp6' : 'udp4', ipv6Only: target.ipv6Only ?? false })
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
