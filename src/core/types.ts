export type Protocol = 'tcp' | 'udp'
export type Family = 'ipv4' | 'ipv6'

/**
 * Socket states as `ss` names them, in the kernel's order (TCP_ESTABLISHED = 1 first), so output
 * lines up with the tool people know. UDP sockets are `UNCONN` (bound) or `ESTAB` (connected).
 */
export const SOCKET_STATES = [
  'ESTAB',
  'SYN-SENT',
  'SYN-RECV',
  'FIN-WAIT-1',
  'FIN-WAIT-2',
  'TIME-WAIT',
  'UNCONN',
  'CLOSE-WAIT',
  'LAST-ACK',
  'LISTEN',
  'CLOSING',
  'NEW-SYN-RECV',
] as const
export type SocketState = (typeof SOCKET_STATES)[number] | 'UNKNOWN'

/** A process holding a socket open. */
export interface Holder {
  pid: number
  /** The kernel's short name (comm), at most 15 characters. */
  name: string
  /** Full command line, arguments joined by spaces; empty for kernel threads. */
  command: string
  user: string
  uid: number
  /** When the process started (ISO 8601), or null when unknown. */
  startedAt: string | null
  /** Clock ticks since boot at start (`/proc/<pid>/stat` field 22): with the pid, an identity. */
  startTicks: number | null
  /**
   * The container whose published port this process proxies, or null: what its command line
   * says (docker-proxy's `172.17.0.2:80`, else the proxy's name).
   */
  container: string | null
  /**
   * The container this holder stands for on this socket, as the Docker Engine names it: set on a
   * port proxy, or on dockerd holding a published port's placeholder (`userland-proxy: false`),
   * when the engine answered (see containers/container-holders.ts). Absent otherwise.
   */
  dockerContainer?: NamedContainer
}

/** A container as the Docker Engine API names it, for a holder of one of its published ports. */
export interface NamedContainer {
  name: string
  /** The full id (64 hex digits). */
  id: string
  /** Where the port's traffic goes inside the container (`172.17.0.2:80`), when known. */
  address: string | null
}

/** One kernel socket and the processes that hold it. */
export interface SocketEntry {
  protocol: Protocol
  family: Family
  state: SocketState
  localAddress: string
  localPort: number
  remoteAddress: string
  remotePort: number
  inode: number
  uid: number
  user: string
  processes: Holder[]
  /**
   * Set only when every task's fd table was seen and none holds this socket: the kernel does
   * (a tunnel device, nfsd). Absent otherwise, including when some fd tables were unreadable.
   */
  kernel?: KernelHolder
  /** The network namespace the socket lives in: set only by a listing of every namespace. */
  netns?: NetnsTag
}

/** Which network namespace a socket is in (core/sockets/namespaces.ts). */
export interface NetnsTag {
  /** The namespace's inode (`ip netns identify`, `readlink /proc/PID/ns/net`). */
  inode: number
  /** Its `ip netns` name, else its container's name, else null. */
  name: string | null
  /** The container's full id, when the namespace is a container's; else null. */
  containerId: string | null
  /** Whether it is this process's own (the host's, for a CLI run on the host). */
  host: boolean
}

/** An in-kernel user of a socket: no task holds it (core/sockets/kernel-holders.ts). */
export interface KernelHolder {
  /** The device that opened it (`vx0`), or null for a kernel service or an unnamed user. */
  interface: string | null
  /** The device's link kind (`vxlan`, `geneve`, `bareudp`, `gtp`, `wireguard`), or null. */
  linkKind: string | null
  /** `vxlan interface vx0 (VNI 42)`, `the NFS server (nfsd)`. */
  description: string
  /** The command that releases the port (`ip link del vx0`), or null when none is known. */
  fix: string | null
}

/** A socket row as read from a kernel table, before holders are attached. */
export type RawSocket = Omit<SocketEntry, 'processes' | 'user'>

export type WarningCode =
  | 'partial_visibility'
  | 'time_wait'
  | 'privileged_port'
  | 'ephemeral_range'
  | 'outside_range'
  | 'worktree_gone'
  | 'namespace_unreadable'

/** Something the caller should know but that did not stop the answer. */
export interface Warning {
  code: WarningCode
  message: string
}
