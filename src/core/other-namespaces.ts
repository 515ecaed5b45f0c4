import { listSocketsInNamespaces } from './sockets/list-sockets.js'
import { findNetworkNamespaces } from './sockets/namespaces.js'
import type { ListSocketsOptions } from './sockets/query.js'
import { isListening } from './sockets/query.js'
import type { NetnsTag, Protocol, SocketEntry, Warning } from './types.js'

/**
 * A port's listeners in another network namespace than this process's. They do not make the port
 * busy here (check stays as it was), but they are often what a user looking for the port wants:
 * the dev server started in a container that did not publish it, or inside `ip netns exec`.
 */
export interface NamespaceHolders {
  netns: NetnsTag
  sockets: SocketEntry[]
}

export type NamespaceQueryOptions = Pick<
  ListSocketsOptions,
  'backend' | 'procRoot' | 'containers' | 'dockerSocket' | 'dockerTimeoutMs'
>

/**
 * The listeners (bound UDP sockets) on these ports in every other namespace reachable, by
 * `protocol:port`, each namespace's in one entry. Nothing is read when this is the only
 * namespace in sight, and the lsof backend sees no namespaces (nothing is asked).
 */
async function listenersInOtherNamespaces(
  ports: readonly { protocol: Protocol; port: number }[],
  options: NamespaceQueryOptions = {},
): Promise<{ found: Map<string, NamespaceHolders[]>; warnings: Warning[] }> {
  const found = new Map<string, NamespaceHolders[]>()
  if (ports.length === 0 || options.backend === 'lsof') return { found, warnings: [] }
  // This namespace's tables were read by the caller: only the others are listed here.
  const others = (await findNetworkNamespaces(options)).filter((ns) => !ns.tag.host)
  if (others.length === 0) return { found, warnings: [] }
  const inventory = await listSocketsInNamespaces(others, {
    ...options,
    ports: ports.map(({ protocol, port }) => ({ protocol, from: port, to: port })),
    protocols: [...new Set(ports.map((p) => p.protocol))],
  })
  for (const socket of inventory.sockets) {
    if (!socket.netns || socket.netns.host || !isListening(socket.protocol, socket.state)) continue
    const key = `${socket.protocol}:${socket.localPort}`
    const entries = found.get(key) ?? []
    const same = entries.find((e) => e.netns.inode === socket.netns!.inode)
    if (same) same.sockets.push(socket)
    else entries.push({ netns: socket.netns, sockets: [socket] })
    found.set(key, entries)
  }
  // The others (holders hidden from this user, say) repeat what this namespace's listing said.
  const warnings = inventory.warnings.filter((w) => w.code === 'namespace_unreadable')
  return { found, warnings }
}

/**
 * Sets `otherNamespaces` on each entry (a `who` answer or a `check` result) from one lookup of
 * all their ports. A note, not the answer (this namespace's tables decided it): a lookup that
 * fails in any way (a namespace the kernel refuses, an unreadable /proc, a bug) leaves the
 * entries without the note rather than failing the command. Returns the lookup's warnings (the
 * namespaces it could not read: a note that is missing there is not an absence), for the caller's.
 */
export async function noteOtherNamespaces(
  entries: readonly { protocol: Protocol; port: number; otherNamespaces?: NamespaceHolders[] }[],
  options: NamespaceQueryOptions,
): Promise<Warning[]> {
  let elsewhere: Awaited<ReturnType<typeof listenersInOtherNamespaces>>
  try {
    elsewhere = await listenersInOtherNamespaces(entries, options)
  } catch {
    return []
  }
  for (const entry of entries)
    entry.otherNamespaces = elsewhere.found.get(`${entry.protocol}:${entry.port}`) ?? []
  return elsewhere.warnings
}
