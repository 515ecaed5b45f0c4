import type { PortPublisher, PublisherOptions } from './containers/published-ports.js'
import type { PortSpec } from './port-spec.js'
import { expandPortSpecs } from './port-spec.js'
import type { OtherProtocolHolders } from './other-protocol.js'
import { otherProtocolHolders, withOtherProtocols } from './other-protocol.js'
import { socketsOnPorts } from './sockets/list-sockets.js'
import type { BackendName } from './sockets/query.js'
import { isListening } from './sockets/query.js'
import type { Protocol, SocketEntry, Warning } from './types.js'
import type { EvidenceContext, HolderJudgement } from './stale/index.js'

export interface PortHolders {
  port: number
  protocol: Protocol
  /** Listening (or bound UDP) sockets on the port; when there are none, the connections' local ends. */
  sockets: SocketEntry[]
  /** Other sockets on the port not listed (accepted connections of the listeners above). */
  connections: number
  /** No socket table shows a holder, yet a bind test fails: something holds it out of sight. */
  heldOutOfSight: boolean
  /** No socket holds it, but a DNAT rule (a container's published port) takes its traffic. */
  publishers: PortPublisher[]
  /** For a port nothing holds, when asked (`otherProtocol`): what holds it over the other protocol. */
  otherProtocol: OtherProtocolHolders | null
  /** Per holder process, when asked (`evidence`): is it a leftover? */
  judgements?: HolderJudgement[]
}

export interface WhoResult {
  ports: PortHolders[]
  warnings: Warning[]
  backend: BackendName
}

export interface WhoOptions extends PublisherOptions {
  backend?: BackendName | 'auto'
  procRoot?: string
  /** Ask the Docker Engine and the NAT table about a port nothing holds (default true). */
  publishers?: boolean
  /**
   * Also say what holds an unheld port over the other protocol (default false): `who 51820`
   * with wireguard-go on 51820/udp. The twin ports are read in the same scan.
   */
  otherProtocol?: boolean
  /**
   * Gather the stale-holder evidence for each holder of each port (who/check/free --dry-run);
   * `allocations` and `httpTimeoutMs` as in `EvidenceContext`. Default: not gathered.
   */
  evidence?: Omit<EvidenceContext, 'sockets'>
}

/**
 * Who holds these ports. A single port with no holder is reported as empty; in a range,
 * only the ports something holds are listed.
 */
export async function whoHolds(
  specs: readonly PortSpec[],
  options: WhoOptions = {},
): Promise<WhoResult> {
  const { byPort, inventory } = await socketsOnPorts(
    options.otherProtocol === true ? withOtherProtocols(specs) : specs,
    options,
  )
  const everyOnPort = new Map(byPort)
  // TIME-WAIT sockets are the kernel's alone: no process to name.
  for (const [key, sockets] of byPort)
    byPort.set(
      key,
      sockets.filter((s) => s.state !== 'TIME-WAIT'),
    )
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
      publishers: [],
      otherProtocol: null,
    })
    if (options.evidence && listeners.length > 0) {
      const { judgePortHolders } = await import('./stale/judge-holders.js')
      ports[ports.length - 1]!.judgements = await judgePortHolders(
        listeners,
        everyOnPort.get(key) ?? [],
        { port, protocol },
        {
          ...options.evidence,
          ...(options.procRoot === undefined ? {} : { procRoot: options.procRoot }),
        },
      )
    }
  }
  const unheld = ports.filter((p) => p.sockets.length === 0 && !p.heldOutOfSight)
  if (unheld.length > 0 && options.publishers !== false) {
    const { findPortPublishers } = await import('./containers/published-ports.js')
    const published = await findPortPublishers(unheld, options)
    for (const entry of unheld)
      entry.publishers = published.get(`${entry.protocol}:${entry.port}`) ?? []
  }
  if (options.otherProtocol === true)
    for (const entry of ports)
      if (!isHeld(entry))
        entry.otherProtocol = otherProtocolHolders(byPort, entry.protocol, entry.port)
  return { ports, warnings: inventory.warnings, backend: inventory.backend }
}

/** Something takes the port: a socket, a failed bind test, or a DNAT rule. */
export function isHeld(entry: PortHolders): boolean {
  return entry.sockets.length > 0 || entry.heldOutOfSight || entry.publishers.length > 0
}

async function boundOutOfSight(protocol: Protocol, port: number): Promise<boolean> {
  const { probeEveryAddress } = await import('./bind-probe.js')
  return (await probeEveryAddress(protocol, port)).some((probe) => probe.outcome === 'EADDRINUSE')
}
