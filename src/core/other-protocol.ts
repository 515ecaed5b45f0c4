import type { PortSpec } from './port-spec.js'
import { isListening } from './sockets/query.js'
import type { Protocol, SocketEntry } from './types.js'

/**
 * The sockets on the same port number over the other protocol, for a port found free: TCP and
 * UDP ports are separate, and `who 51820` (TCP by default) with wireguard-go on 51820/udp should
 * say so rather than only "free".
 */
export interface OtherProtocolHolders {
  protocol: Protocol
  /** Its listening (or bound UDP) sockets; when there are none, its connections' local ends. */
  sockets: SocketEntry[]
}

export function otherProtocol(protocol: Protocol): Protocol {
  return protocol === 'tcp' ? 'udp' : 'tcp'
}

/** The specs and their twins over the other protocol, for one scan of both. */
export function withOtherProtocols(specs: readonly PortSpec[]): PortSpec[] {
  return [...specs, ...specs.map((spec) => ({ ...spec, protocol: otherProtocol(spec.protocol) }))]
}

/** What holds `port` over the protocol other than `protocol`, from a scan grouped by `protocol:port`; null when nothing does. */
export function otherProtocolHolders(
  byPort: ReadonlyMap<string, readonly SocketEntry[]>,
  protocol: Protocol,
  port: number,
): OtherProtocolHolders | null {
  const other = otherProtocol(protocol)
  // TIME-WAIT sockets are the kernel's alone: no process to name.
  const sockets = (byPort.get(`${other}:${port}`) ?? []).filter((s) => s.state !== 'TIME-WAIT')
  if (sockets.length === 0) return null
  const listeners = sockets.filter((s) => isListening(s.protocol, s.state))
  return { protocol: other, sockets: listeners.length > 0 ? listeners : sockets }
}
