import type { PortSpec } from './port-spec.js'
import { expandPortSpecs } from './port-spec.js'
import { listSockets } from './sockets/list-sockets.js'
import type { BackendName } from './sockets/query.js'
import { isListening } from './sockets/query.js'
import type { Protocol, SocketEntry, Warning } from './types.js'

export interface PortHolders {
  port: number
  protocol: Protocol
  /** Listening (or bound UDP) sockets on the port; when there are none, the connections' local ends. */
  sockets: SocketEntry[]
  /** Other sockets on the port not listed (accepted connections of the listeners above). */
  connections: number
  /** No socket table shows a holder, yet a bind test fails: something holds it out of sight. */
  heldOutOfSight: boolean
}

export interface WhoResult {
  ports: PortHolders[]
  warnings: Warning[]
  backend: BackendName
}

export interface WhoOptions {
  backend?: BackendName | 'auto'
  procRoot?: string
}

/**
 * Who holds these ports. A single port with no holder is reported as empty; in a range,
 * only the ports something holds are listed.
 */
export async function whoHolds(
  specs: readonly PortSpec[],
  options: WhoOptions = {},
): Promise<WhoResult> {
  const inventory = await listSockets({
    all: true,
    ports: specs,
    // Only the tables these specs can be in: /proc/net/udp* cost time a TCP question never needs.
    protocols: [...new Set(specs.map((spec) => spec.protocol))],
    backend: options.backend,
    procRoot: options.procRoot,
  })
  const byPort = new Map<string, SocketEntry[]>()
  for (const socket of inventory.sockets) {
    if (socket.state === 'TIME-WAIT') continue // held by the kernel alone, no process to name
    const key = `${socket.protocol}:${socket.localPort}`
    const list = byPort.get(key)
    if (list) list.push(socket)
    else byPort.set(key, [socket])
  }
  const single = new Set(specs.filter((s) => s.from === s.to).map((s) => `${s.protocol}:${s.from}`))
  const ports: PortHolders[] = []
  for (const { protocol, port } of expandPortSpecs(specs)) {
    const key = `${protocol}:${port}`
    const sockets = byPort.get(key) ?? []
    if (sockets.length === 0 && !single.has(key)) continue
    const listeners = sockets.filter((s) => isListening(s.protocol, s.state))
    const shown = listeners.length > 0 ? listeners : sockets
    // Never call a port free that we merely cannot see: a socket bound without listen(), one in
    // another network namespace, or (with lsof) another user's. A bind test tells.
    const heldOutOfSight = shown.length === 0 && (await boundOutOfSight(protocol, port))
    ports.push({
      port,
      protocol,
      sockets: shown,
      connections: sockets.length - shown.length,
      heldOutOfSight,
    })
  }
  return { ports, warnings: inventory.warnings, backend: inventory.backend }
}

async function boundOutOfSight(protocol: Protocol, port: number): Promise<boolean> {
  const { probeEveryAddress } = await import('./bind-probe.js')
  return (await probeEveryAddress(protocol, port)).some((probe) => probe.outcome === 'EADDRINUSE')
}
