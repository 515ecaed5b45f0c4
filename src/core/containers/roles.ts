/**
 * Processes that stand in for containers. Signalling any of them breaks containers instead of
 * freeing a port: a port proxy (the mapping breaks, the container keeps running) or the runtime
 * itself (dockerd holds published ports as placeholders when `userland-proxy` is off; stopping
 * it stops every container).
 */
export type ContainerRole = 'proxy' | 'runtime'

/** Port proxies: each forwards one published port into a container's network. */
const CONTAINER_PROXIES = new Set([
  'docker-proxy',
  'rootlessport',
  'rootlessport-ch',
  'slirp4netns',
  'pasta',
])

/**
 * Container engines and their helpers, by comm (at most 15 characters, so
 * `containerd-shim-runc-v2` is `containerd-shim`).
 */
const CONTAINER_RUNTIMES = new Set([
  'dockerd',
  'containerd',
  'containerd-shim',
  'docker-containerd',
  'runc',
  'crun',
  'conmon',
  'podman',
  'buildkitd',
  'rootlesskit',
  'crio',
  'cri-dockerd',
  'nerdctl',
  'lxd',
  'incusd',
])

/** The kernel's comm of a process whose executable is called `name`. */
function asComm(name: string): string {
  return name.length > 15 ? name.slice(0, 15) : name
}

export function containerRole(name: string): ContainerRole | null {
  const comm = asComm(name)
  if (CONTAINER_PROXIES.has(comm)) return 'proxy'
  if (CONTAINER_RUNTIMES.has(comm)) return 'runtime'
  return null
}

export function isContainerProxy(name: string): boolean {
  return containerRole(name) === 'proxy'
}

/**
 * A holder that stands for a container's published port: a port proxy, or dockerd holding the
 * placeholder socket of a published port when the userland proxy is off.
 */
export function standsForContainer(name: string): boolean {
  return containerRole(name) === 'proxy' || name === 'dockerd'
}

/**
 * Names what a proxy process forwards to. docker-proxy's command line carries
 * `-container-ip 172.17.0.2 -container-port 80`; the container's name needs the Docker API.
 * (A port dockerd holds may be a published port's placeholder or its own API socket: only the
 * Engine API can tell, so runtimes are not described here.)
 */
export function describeContainerProxy(name: string, command: string): string | null {
  if (!isContainerProxy(name)) return null
  const ip = /-container-ip\s+(\S+)/.exec(command)?.[1]
  const port = /-container-port\s+(\S+)/.exec(command)?.[1]
  if (ip && port) return `${ip}:${port}`
  return name
}
