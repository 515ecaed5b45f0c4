import type { PortPublisher, PublisherOptions } from './containers/published-ports.js'
import type { PortSpec } from './port-spec.js'
import { expandPortSpecs } from './port-spec.js'
import type { OtherProtocolHolders } from './other-protocol.js'
import { otherProtocolHolders, withOtherProtocols } from './other-protocol.js'
import { socketsOnPorts } from './sockets/list-sockets.js'
import type { BackendName } from './sockets/query.js'
import { isListening } from './sockets/query.js'
import type { NamespaceHolders } from './other-namespaces.js'
import { noteOtherNamespaces } from './other-namespaces.js'
import type { NetnsTag, Protocol, SocketEntry, Warning } from './types.js'
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
  /** Which namespace this answer is about: set by a question about every namespace. */
  netns?: NetnsTag
  /** For a port nothing holds here, when asked (`otherNamespaces`): its listeners elsewhere. */
  otherNamespaces?: NamespaceHolders[]
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
  /**
   * Answer for every network namespace reachable (default false): one entry per namespace a
   * port is held in, each with its `netns`, this namespace's always.
   */
  allNamespaces?: boolean
  /**
   * For a port nothing holds here, name its listeners in other network namespaces (default
   * false): they do not make it busy here, but are often what the user is looking for.
   */
  otherNamespaces?: boolean
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
  const single = new Set(specs.filter((s) => s.from === s.to).map((s) => `${s.protocol}:${s.from}`))
  const expanded = expandPortSpecs(specs)
  const ports: PortHolders[] = []
  // One answer per namespace a port is held in (this one's first); else one answer per port.
  const scopes: { netns?: NetnsTag; byPort: ReadonlyMap<string, SocketEntry[]> }[] =
    options.allNamespaces === true ? byNamespace(byPort) : [{ byPort }]
  for (const scope of scopes) {
    const here = scope.netns === undefined || scope.netns.host
    // TIME-WAIT sockets are the kernel's alone: no process to name.
    const held = new Map<string, SocketEntry[]>()
    for (const [key, sockets] of scope.byPort)
      held.set(
        key,
        sockets.filter((s) => s.state !== 'TIME-WAIT'),
      )
    for (const { protocol, port } of expanded) {
      const key = `${protocol}:${port}`
      const sockets = held.get(key) ?? []
      if (sockets.length === 0 && !(here && single.has(key))) continue
      const entry = await portEntry(protocol, port, sockets, here)
      if (scope.netns) entry.netns = scope.netns
      ports.push(entry)
      const listeners = entry.sockets.filter((s) => isListening(s.protocol, s.state))
      if (options.evidence && listeners.length > 0) {
        const { judgePortHolders } = await import('./stale/judge-holders.js')
        entry.judgements = await judgePortHolders(
          listeners,
          scope.byPort.get(key) ?? [],
          { port, protocol },
          {
            ...options.evidence,
            ...(options.procRoot === undefined ? {} : { procRoot: options.procRoot }),
          },
        )
      }
      if (options.otherProtocol === true && !isHeld(entry))
        entry.otherProtocol = otherProtocolHolders(held, protocol, port)
    }
  }
  if (options.allNamespaces === true) {
    const order = new Map(expanded.map(({ protocol, port }, i) => [`${protocol}:${port}`, i]))
    const rank = (e: PortHolders) => order.get(`${e.protocol}:${e.port}`) ?? 0
    ports.sort((a, b) => rank(a) - rank(b) || Number(b.netns?.host) - Number(a.netns?.host))
  }
  const unheld = ports.filter(
    (p) => p.sockets.length === 0 && !p.heldOutOfSight && (p.netns?.host ?? true),
  )
  if (unheld.length > 0 && options.publishers !== false) {
    const { findPortPublishers } = await import('./containers/published-ports.js')
    const published = await findPortPublishers(unheld, options)
    for (const entry of unheld)
      entry.publishers = published.get(`${entry.protocol}:${entry.port}`) ?? []
  }
  const warnings = [...inventory.warnings]
  if (options.otherNamespaces === true && options.allNamespaces !== true)
    warnings.push(
      ...(await noteOtherNamespaces(
        ports.filter((p) => !isHeld(p)),
        options,
      )),
    )
  return { ports, warnings, backend: inventory.backend }
}

/** One port's answer in one namespace; the bind test runs only here (it binds in this one). */
async function portEntry(
  protocol: Protocol,
  port: number,
  sockets: SocketEntry[],
  here: boolean,
): Promise<PortHolders> {
  const listeners = sockets.filter((s) => isListening(s.protocol, s.state))
  const shown = listeners.length > 0 ? listeners : sockets
  // Never call a port free that we merely cannot see: a socket bound without listen(), one in
  // another network namespace, or (with lsof) another user's. A bind test tells.
  const heldOutOfSight = here && shown.length === 0 && (await boundOutOfSight(protocol, port))
  return {
    port,
    protocol,
    sockets: shown,
    connections: sockets.length - shown.length,
    heldOutOfSight,
    publishers: [],
    otherProtocol: null,
  }
}

/** The sockets of a listing of every namespace, split by namespace (this one's first). */
function byNamespace(
  byPort: ReadonlyMap<string, readonly SocketEntry[]>,
): { netns: NetnsTag; byPort: Map<string, SocketEntry[]> }[] {
  const scopes = new Map<number, { netns: NetnsTag; byPort: Map<string, SocketEntry[]> }>()
  for (const [key, sockets] of byPort)
    for (const socket of sockets) {
      if (!socket.netns) continue
      let scope = scopes.get(socket.netns.inode)
      if (!scope) {
        scope = { netns: socket.netns, byPort: new Map() }
        scopes.set(socket.netns.inode, scope)
      }
      const list = scope.byPort.get(key)
      if (list) list.push(socket)
      else scope.byPort.set(key, [socket])
    }
  const list = [...scopes.values()]
  // This namespace answers even where nothing holds a port in it.
  if (!list.some((s) => s.netns.host)) {
    const host = [...byPort.values()].flat().find((s) => s.netns?.host)?.netns
    list.push({ netns: host ?? HERE, byPort: new Map() })
  }
  return list.sort((a, b) => Number(b.netns.host) - Number(a.netns.host))
}

/** This namespace, when a listing of every namespace found nothing in it to take its tag from. */
const HERE: NetnsTag = { inode: 0, name: null, containerId: null, host: true }

/** Something takes the port: a socket, a failed bind test, or a DNAT rule. */
export function isHeld(entry: PortHolders): boolean {
  return entry.sockets.length > 0 || entry.heldOutOfSight || entry.publishers.length > 0
}

async function boundOutOfSight(protocol: Protocol, port: number): Promise<boolean> {
  const { probeEveryAddress } = await import('./bind-probe.js')
  return (await probeEveryAddress(protocol, port)).some((probe) => probe.outcome === 'EADDRINUSE')
}
