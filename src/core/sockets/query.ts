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

const grouped = new WeakMap<readonly SocketEntry[], ReadonlyMap<string, SocketEntry[]>>()

/**
 * The listening sockets among `sockets`, grouped by `protocol:port` (e.g. `tcp:8080`). Made once
 * per listing (a listing's array is never changed once made): the server asks it of one snapshot
 * for every request, 10k sockets each time.
 */
export function listenersByPort(
  sockets: readonly SocketEntry[],
): ReadonlyMap<string, readonly SocketEntry[]> {
  const known = grouped.get(sockets)
  if (known) return known
  const listeners = new Map<string, SocketEntry[]>()
  for (const socket of sockets) {
    if (!isListening(socket.protocol, socket.state)) continue
    const key = `${socket.protocol}:${socket.localPort}`
    const group = listeners.get(key)
    if (group) group.push(socket)
    else listeners.set(key, [socket])
  }
  grouped.set(sockets, listeners)
  return listeners
}
