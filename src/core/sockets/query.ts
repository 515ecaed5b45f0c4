import type { PortSpec } from '../port-spec.js'
import type { Family, Protocol, SocketEntry, SocketState } from '../types.js'

export type BackendName = 'netlink' | 'proc' | 'lsof'

export interface ListSocketsOptions {
  /** Every state (like `ss -a`); default: TCP listeners and bound UDP sockets (like `ss -l`). */
  all?: boolean
  /** Default: both. */
  protocols?: readonly Protocol[]
  /** Default: both. */
  families?: readonly Family[]
  /** Keep only sockets whose local port matches one of these specs. */
  ports?: readonly PortSpec[]
  /** Keep only sockets held by this pid. */
  pid?: number
  /** Keep only sockets held by a process with this name (comm, exact). */
  processName?: string
  /**
   * Also TCP sockets bound without listen() or connect() (TCP_BOUND_INACTIVE): netlink on
   * Linux 6.5+ only; /proc/net never lists them. `ss -a` leaves them out, so listings do too.
   * They come back in state UNCONN (the kernel's TCP_CLOSE).
   */
  boundInactive?: boolean
  /** Resolve the processes holding each socket (the costly part). Default: true. */
  withProcesses?: boolean
  /**
   * Every network namespace reachable (ip netns, containers, other processes'), each socket
   * tagged with its `netns`; default: this process's own only. Not with the lsof backend.
   */
  allNamespaces?: boolean
  /** Default `auto`: netlink when the addon loads and the kernel answers, else /proc, else lsof. */
  backend?: BackendName | 'auto'
  /** Root of the proc filesystem; tests point it elsewhere. */
  procRoot?: string
  /**
   * Name the containers that port proxies and dockerd stand for (`Holder.dockerContainer`),
   * with one Docker Engine API call, made only when such a holder is listed. Default: true.
   */
  containers?: boolean
  /** The Docker Engine API socket (default: PORTWARDEN_DOCKER_SOCKET, DOCKER_HOST, /var/run/docker.sock). */
  dockerSocket?: string
  dockerTimeoutMs?: number
}

/** `ss -l` semantics: listening TCP, unconnected (bound) UDP. */
export function isListening(protocol: Protocol, state: SocketState): boolean {
  return protocol === 'tcp' ? state === 'LISTEN' : state === 'UNCONN'
}

/** A port's listeners in the index: the socket itself when it is the only one (most ports). */
type PortListeners = SocketEntry | SocketEntry[]

const indexes = new WeakMap<readonly SocketEntry[], ReadonlyMap<number, PortListeners>>()

/** One number per protocol and port: no key text per socket (100k of them in a snapshot). */
const portKey = (protocol: Protocol, port: number): number =>
  protocol === 'tcp' ? port : 65536 + port

/**
 * The listening sockets among `sockets` on this protocol and port. The listing is indexed by port
 * once (a listing's array is never changed once made): the server asks it of one snapshot for
 * every request, and of every allocation, 100k sockets each time otherwise.
 */
export function listenersOn(
  sockets: readonly SocketEntry[],
  protocol: Protocol,
  port: number,
): readonly SocketEntry[] {
  const found = listenerIndex(sockets).get(portKey(protocol, port))
  return found === undefined ? [] : Array.isArray(found) ? found : [found]
}

function listenerIndex(sockets: readonly SocketEntry[]): ReadonlyMap<number, PortListeners> {
  const known = indexes.get(sockets)
  if (known) return known
  const index = new Map<number, PortListeners>()
  for (const socket of sockets) {
    if (!isListening(socket.protocol, socket.state)) continue
    const key = portKey(socket.protocol, socket.localPort)
    const found = index.get(key)
    if (found === undefined) index.set(key, socket)
    else if (Array.isArray(found)) found.push(socket)
    else index.set(key, [found, socket])
  }
  indexes.set(sockets, index)
  return index
}
