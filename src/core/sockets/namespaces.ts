import { readdirSync, readlinkSync, realpathSync, statSync } from 'node:fs'
import type { ContainerNamingOptions } from '../containers/container-holders.js'
import { askDockerEngine } from '../containers/docker-engine.js'
import { listPids, readProcText } from '../process/read-process.js'
import type { NetnsTag } from '../types.js'

/** A network namespace this process can reach, and how to read its socket tables. */
export interface NetworkNamespace {
  tag: NetnsTag
  /** An nsfs file that enters it: `/run/netns/NAME`, else `/proc/PID/ns/net` of a member. */
  path: string
  /** A process inside it (its `/proc/PID/net/*` are the tables' fallback), or null when none is visible. */
  memberPid: number | null
  /** The member's name (comm), for a namespace that has no other name. */
  memberName: string | null
}

export interface NamespaceOptions extends ContainerNamingOptions {
  procRoot?: string
  /** Ask the Docker Engine for container names (default: true). */
  containers?: boolean
}

/** Where `ip netns` keeps its names (nsfs bind mounts), and where Docker keeps its sandboxes'. */
const NAMED_DIRS = ['/run/netns', '/var/run/netns']
const DOCKER_NETNS_DIRS = ['/run/docker/netns', '/var/run/docker/netns']
/** A container id in a cgroup path: docker-<id>.scope, /docker/<id>, libpod-<id>, cri-containerd-<id>. */
const CONTAINER_CGROUP =
  /(?:docker|libpod|crio|cri-containerd)[-/]([0-9a-f]{64})(?:\.scope)?(?:\/|$)/m

/**
 * Every network namespace reachable from here: the host's (this process's own) first, then the
 * others by inode: the `ns/net` links of every visible process (deduplicated by inode), the
 * `ip netns` names and Docker's sandbox files. A namespace is named by `ip netns` where it has a
 * name there, else by its container (Docker Engine API, from the member's cgroup), else not.
 */
export async function findNetworkNamespaces(
  options: NamespaceOptions = {},
): Promise<NetworkNamespace[]> {
  const procRoot = options.procRoot ?? '/proc'
  const hostInode = nsInode(`${procRoot}/self/ns/net`)
  const byInode = new Map<number, NetworkNamespace>()
  const add = (inode: number, found: Omit<NetworkNamespace, 'tag'>, name: string | null) => {
    const known = byInode.get(inode)
    if (!known) {
      byInode.set(inode, {
        ...found,
        tag: { inode, name, containerId: null, host: inode === hostInode },
      })
      return
    }
    // A name's file enters the namespace without any process: it is the better path.
    if (name !== null && known.tag.name === null) {
      known.tag.name = name
      known.path = found.path
    }
    if (known.memberPid === null && found.memberPid !== null) {
      known.memberPid = found.memberPid
      known.memberName = found.memberName
    }
  }
  for (const pid of listPids(procRoot)) {
    const inode = nsInode(`${procRoot}/${pid}/ns/net`)
    if (inode === null || byInode.has(inode)) continue
    const memberName = readProcText(`${procRoot}/${pid}/comm`, 'utf8')?.trimEnd() ?? null
    add(inode, { path: `${procRoot}/${pid}/ns/net`, memberPid: pid, memberName }, null)
  }
  // The device of nsfs: a namespace file is one of its inodes (an unmounted placeholder is not).
  const nsfs = deviceOf(`${procRoot}/self/ns/net`)
  for (const dir of distinct(NAMED_DIRS))
    for (const name of entries(dir)) {
      const inode = fileInode(`${dir}/${name}`, nsfs)
      if (inode !== null)
        add(inode, { path: `${dir}/${name}`, memberPid: null, memberName: null }, name)
    }
  for (const dir of distinct(DOCKER_NETNS_DIRS))
    for (const name of entries(dir)) {
      const inode = fileInode(`${dir}/${name}`, nsfs)
      if (inode !== null && !byInode.has(inode))
        add(inode, { path: `${dir}/${name}`, memberPid: null, memberName: null }, null)
    }
  if (hostInode !== null && !byInode.has(hostInode))
    add(
      hostInode,
      { path: `${procRoot}/self/ns/net`, memberPid: process.pid, memberName: null },
      null,
    )
  const namespaces = [...byInode.values()].sort(
    (a, b) => Number(b.tag.host) - Number(a.tag.host) || a.tag.inode - b.tag.inode,
  )
  await nameContainers(namespaces, procRoot, options)
  return namespaces
}

/** Namespaces whose member runs in a container's cgroup get the container's id and name. */
async function nameContainers(
  namespaces: readonly NetworkNamespace[],
  procRoot: string,
  options: NamespaceOptions,
): Promise<void> {
  const unnamed = namespaces.filter((ns) => !ns.tag.host && !ns.tag.name && ns.memberPid !== null)
  for (const ns of unnamed) {
    const cgroup = readProcText(`${procRoot}/${ns.memberPid}/cgroup`, 'utf8') ?? ''
    ns.tag.containerId = CONTAINER_CGROUP.exec(cgroup)?.[1] ?? null
  }
  if (!unnamed.some((ns) => ns.tag.containerId !== null) || options.containers === false) return
  const lookup = await askDockerEngine(options)
  if (!lookup.ok) return
  for (const ns of unnamed) {
    const container = lookup.containers.find((c) => c.id === ns.tag.containerId)
    if (container) ns.tag.name = container.name
  }
}

/** `net:[4026531840]` → 4026531840; null when the link cannot be read (another user's process). */
function nsInode(link: string): number | null {
  try {
    const match = /^net:\[(\d+)\]$/.exec(readlinkSync(link))
    return match ? Number(match[1]) : null
  } catch {
    return null
  }
}

/** An nsfs bind mount's inode is its namespace's; a file that is no mount (not yet) is skipped. */
function fileInode(path: string, nsfs: number | null): number | null {
  try {
    const stat = statSync(path)
    return stat.dev === nsfs ? stat.ino : null
  } catch {
    return null
  }
}

function deviceOf(path: string): number | null {
  try {
    return statSync(path).dev
  } catch {
    return null
  }
}

/** The directories that exist, each once (/var/run is most often a link to /run). */
function distinct(dirs: readonly string[]): string[] {
  const seen = new Set<string>()
  return dirs.filter((dir) => {
    try {
      const real = realpathSync(dir)
      if (seen.has(real)) return false
      seen.add(real)
      return true
    } catch {
      return false
    }
  })
}

function entries(dir: string): string[] {
  try {
    return readdirSync(dir)
  } catch {
    return []
  }
}
