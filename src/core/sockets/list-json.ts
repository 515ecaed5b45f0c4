import type { ContainerNamingOptions } from '../containers/container-holders.js'
import { containerForHolder, mayStandForContainer } from '../containers/container-holders.js'
import { askDockerEngine } from '../containers/docker-engine.js'
import { startHolderScan } from '../process/holder-scan.js'
import { ProcessReader } from '../process/read-process.js'
import { stringifyForTerminal } from '../../shared/safe-text.js'
import type { Holder, Warning } from '../types.js'
import { toJsonHolder } from '../wire.js'
import { chooseBackend, partialVisibility } from './list-sockets.js'
import { nativeAddon } from './native-addon.js'
import { dumpListingAsync } from './netlink-backend.js'
import type { ListSocketsOptions } from './query.js'

/**
 * A full listing as `list --json` prints it, made by the addon from the kernel's records and
 * the holder scan: the same bytes as `socketsJsonChunks(listSockets(options).sockets)` (a
 * property test holds the two together), without an object per socket. At 100k sockets those
 * objects, their sort and the JSON text were most of the run (bench/RESULTS.md).
 *
 * Null when this path does not apply (no addon or netlink, another backend, a filter): the
 * caller then lists and renders as usual.
 */
export async function listSocketsJson(
  options: ListSocketsOptions,
): Promise<{ json: Buffer; warnings: Warning[] } | null> {
  const { addon } = nativeAddon()
  const filtered =
    options.ports !== undefined ||
    options.pid !== undefined ||
    options.processName !== undefined ||
    options.withProcesses === false ||
    options.allNamespaces === true ||
    (options.procRoot ?? '/proc') !== '/proc'
  if (!addon || filtered || (await chooseBackend(options.backend)) !== 'netlink') return null
  const scanner = startHolderScan(null, '/proc', true)
  const records = await dumpListingAsync(options)
  const size = addon.recordSize
  const inodes = new Uint32Array(records.length / size)
  for (let i = 0; i < inodes.length; i++) inodes[i] = records.readUInt32LE(i * size + 12)
  const lookup = await scanner.scan(inodes.sort().subarray(inodes.lastIndexOf(0) + 1))
  // No pairs only when nothing was asked about (an empty listing): render it, do not list again.
  const pairs = lookup.pairs ?? new Uint32Array(0)
  const reader = new ProcessReader()
  if (lookup.details) reader.prime(lookup.details)
  const holders = new Map<number, Holder>()
  for (const pid of pidsOf(pairs, new Set(inodes))) {
    const holder = reader.holder(pid)
    if (holder) holders.set(pid, holder)
  }
  // dockerd stands for a different container on each port it holds (userland-proxy off): the
  // object path names them socket by socket. A port proxy forwards one port: named here.
  if ([...holders.values()].some((h) => h.name === 'dockerd')) return null
  if (options.containers !== false) await nameProxies(holders, options)
  const [holderPids, holderJson] = jsonBy(holders.keys(), (pid) => {
    const holder = holders.get(pid)
    return holder ? stringifyForTerminal(toJsonHolder(holder)) : null
  })
  const uids = new Set<number>()
  for (let at = 8; at < records.length; at += size) uids.add(records.readUInt32LE(at))
  const [userIds, userJson] = jsonBy(uids, (uid) => stringifyForTerminal(reader.userName(uid)))
  const { json, hidden } = addon.renderSocketsJson(
    records,
    pairs,
    holderPids,
    holderJson,
    userIds,
    userJson,
  )
  const warnings = hidden > 0 && lookup.unreadablePids.length > 0 ? [partialVisibility(hidden)] : []
  return { json, warnings }
}

/** The containers of the port proxies among `holders`, in one Engine API call (none when no proxy). */
async function nameProxies(
  holders: Map<number, Holder>,
  options: ContainerNamingOptions,
): Promise<void> {
  const proxies = [...holders.values()].filter(mayStandForContainer)
  if (proxies.length === 0) return
  const lookup = await askDockerEngine(options)
  if (!lookup.ok) return
  for (const proxy of proxies) {
    const named = containerForHolder(proxy, null, lookup.containers)
    if (named) holders.set(proxy.pid, { ...proxy, dockerContainer: named })
  }
}

/** The pids paired with a listed inode (the scan may pair more: sockets of other tables and namespaces). */
function pidsOf(pairs: Uint32Array, listed: ReadonlySet<number>): Set<number> {
  const pids = new Set<number>()
  for (let i = 1; i < pairs.length; i += 2)
    if (listed.has(pairs[i - 1] as number)) pids.add(pairs[i] as number)
  return pids
}

/** Ascending keys with their JSON text; keys whose text is null are left out. */
function jsonBy(
  keys: Iterable<number>,
  json: (key: number) => string | null,
): [Uint32Array, string[]] {
  const sorted = Uint32Array.from(keys).sort()
  const kept: number[] = []
  const texts: string[] = []
  for (const key of sorted) {
    const text = json(key)
    if (text === null) continue
    kept.push(key)
    texts.push(text)
  }
  return [Uint32Array.from(kept), texts]
}
