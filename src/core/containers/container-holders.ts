import type { Holder, NamedContainer, SocketEntry } from '../types.js'
import type { DockerAskOptions, DockerContainer, DockerEngineOptions } from './docker-engine.js'
import { askDockerEngine } from './docker-engine.js'
import { isContainerProxy } from './roles.js'

export type ContainerNamingOptions = DockerEngineOptions

/**
 * Could the Docker Engine name the container this holder stands for? A port proxy whose command
 * line names the container's address (docker-proxy's `-container-ip`), or dockerd itself, which
 * holds a published port's placeholder socket when `userland-proxy` is off. Nothing else is
 * ever worth an Engine API call.
 */
export function mayStandForContainer(holder: Holder): boolean {
  // Asked of every holder of a listing: the common case (no container) is two comparisons.
  return holder.name === 'dockerd' || (holder.container !== null && proxyTarget(holder) !== null)
}

/** docker-proxy's `172.17.0.2:80` (from its command line), or null. */
function proxyTarget(holder: Holder): string | null {
  if (!isContainerProxy(holder.name) || holder.container === null) return null
  return holder.container !== holder.name && holder.container.includes(':')
    ? holder.container
    : null
}

/**
 * Names the containers that these sockets' holders stand for (`Holder.dockerContainer`), with
 * one Engine API call for all of them, and only when some holder may stand for one. An engine
 * that does not answer (none here, no permission, too slow) names nothing: the holders keep
 * what their command lines say. Never throws. A named holder is a copy: a process holding many
 * sockets (dockerd) stands for a different container on each.
 */
export async function nameContainerHolders(
  sockets: readonly SocketEntry[],
  options: DockerAskOptions = {},
): Promise<void> {
  const concerned = sockets.filter((s) => s.processes.some(mayStandForContainer))
  if (concerned.length === 0) return
  const lookup = await askDockerEngine(options)
  if (!lookup.ok) return
  for (const socket of concerned) {
    socket.processes = socket.processes.map((holder) => {
      const named = mayStandForContainer(holder)
        ? containerForHolder(holder, socket, lookup.containers)
        : null
      return named ? { ...holder, dockerContainer: named } : holder
    })
  }
}

/**
 * The container a holder stands for: a proxy's by the address its command line forwards to
 * (else by the socket's published port); dockerd's by the port binding that matches the socket
 * it holds (its own API socket on TCP matches none). `socket` null: a proxy by address only.
 */
export function containerForHolder(
  holder: Holder,
  socket: Pick<SocketEntry, 'protocol' | 'family' | 'localAddress' | 'localPort'> | null,
  containers: readonly DockerContainer[],
): NamedContainer | null {
  const target = proxyTarget(holder)
  if (target !== null) {
    const ip = target.slice(0, target.lastIndexOf(':')).replace(/^\[|\]$/g, '')
    const found =
      containers.find((c) => c.addresses.includes(ip)) ??
      (socket ? publishingContainer(socket, containers)?.container : undefined)
    return found ? { name: found.name, id: found.id, address: target } : null
  }
  if (holder.name !== 'dockerd' || socket === null) return null
  const found = publishingContainer(socket, containers)
  if (!found) return null
  const { container, privatePort } = found
  const v6 = socket.family === 'ipv6'
  const ip =
    container.addresses.find((a) => a.includes(':') === v6) ?? container.addresses[0] ?? null
  return {
    name: container.name,
    id: container.id,
    address:
      ip === null ? null : ip.includes(':') ? `[${ip}]:${privatePort}` : `${ip}:${privatePort}`,
  }
}

const WILDCARDS = new Set(['', '0.0.0.0', '::'])

/** The container whose port binding is this socket: same port and protocol, a matching host IP. */
function publishingContainer(
  socket: Pick<SocketEntry, 'protocol' | 'localAddress' | 'localPort'>,
  containers: readonly DockerContainer[],
): { container: DockerContainer; privatePort: number } | null {
  let loose: { container: DockerContainer; privatePort: number } | null = null
  for (const container of containers) {
    for (const port of container.ports) {
      if (port.publicPort !== socket.localPort || port.protocol !== socket.protocol) continue
      if (port.ip === socket.localAddress) return { container, privatePort: port.privatePort }
      if (port.ip === null || WILDCARDS.has(port.ip))
        loose ??= { container, privatePort: port.privatePort }
    }
  }
  return loose
}
