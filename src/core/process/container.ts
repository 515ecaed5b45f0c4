/** Port proxies that stand in for a container: signalling them breaks the mapping, not the app. */
const CONTAINER_PROXIES = new Set([
  'docker-proxy',
  'rootlessport',
  'rootlessport-ch',
  'slirp4netns',
  'pasta',
])

export function isContainerProxy(name: string): boolean {
  return CONTAINER_PROXIES.has(name)
}

/**
 * Names what a proxy process forwards to. docker-proxy's command line carries
 * `-container-ip 172.17.0.2 -container-port 80`; the container's name needs the Docker API.
 */
export function describeContainerProxy(name: string, command: string): string | null {
  if (!isContainerProxy(name)) return null
  const ip = /-container-ip\s+(\S+)/.exec(command)?.[1]
  const port = /-container-port\s+(\S+)/.exec(command)?.[1]
  if (ip && port) return `${ip}:${port}`
  return name
}
