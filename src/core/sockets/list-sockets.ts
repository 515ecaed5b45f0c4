import { accessSync, constants } from 'node:fs'
import { mayStandForContainer, nameContainerHolders } from '../containers/container-holders.js'
import { PortwardenError } from '../errors.js'
import type { KernelUsers, OtherNamespace } from './kernel-holders.js'
import { readKernelUsers } from './kernel-holders.js'
import type { NetworkNamespace } from './namespaces.js'
import { findNetworkNamespaces } from './namespaces.js'
import {
  namespacePlace,
  namespacesNotReadSentence,
  notVisibleWhere,
  rootWouldSeeHolder,
} from '../messages.js'
import type { PortSpec } from '../port-spec.js'
import { specContains } from '../port-spec.js'
import type { HolderLookup } from '../process/holder-scan.js'
import { startHolderScan } from '../process/holder-scan.js'
import { ProcessReader, listPids, readProcText } from '../process/read-process.js'
import type { Family, Holder, Protocol, RawSocket, SocketEntry, Warning } from '../types.js'
import { netlinkAvailable, readTablesNetlink } from './netlink-backend.js'
import { parseProcNet } from './parse-proc-net.js'
import type { BackendName, ListSocketsOptions } from './query.js'
import { isListening } from './query.js'

export type { BackendName, ListSocketsOptions } from './query.js'

export interface SocketInventory {
  sockets: SocketEntry[]
  warnings: Warning[]
  backend: BackendName
}

/** A scan a caller made already, handed on so that the next step does not read /proc again. */
export type SocketScan = Pick<SocketInventory, 'sockets' | 'warnings'>

const PROC_TABLES: readonly { file: string; protocol: Protocol; family: Family }[] = [
  { file: 'tcp', protocol: 'tcp', family: 'ipv4' },
  { file: 'tcp6', protocol: 'tcp', family: 'ipv6' },
  { file: 'udp', protocol: 'udp', family: 'ipv4' },
  { file: 'udp6', protocol: 'udp', family: 'ipv6' },
]

export async function chooseBackend(
  requested: BackendName | 'auto' | undefined,
  procRoot = '/proc',
): Promise<BackendName> {
  if (requested === 'netlink' || requested === 'proc' || requested === 'lsof') return requested
  // Netlink answers for this process's own network namespace, which is what /proc/net shows
  // only when procRoot is the real /proc (tests point procRoot at fixtures).
  if (procRoot === '/proc' && netlinkAvailable()) return 'netlink'
  try {
    accessSync(`${procRoot}/net/tcp`, constants.R_OK)
    return 'proc'
  } catch {
    const { lsofAvailable } = await import('./lsof-backend.js')
    if (lsofAvailable()) return 'lsof'
    throw new PortwardenError(
      'backend_unavailable',
      `Cannot read the socket tables: ${procRoot}/net/tcp is not readable and lsof is not installed.`,
      { hint: 'Mount /proc, or install lsof (the fallback backend).' },
    )
  }
}

/**
 * The socket inventory: every socket the kernel reports, with every process holding it.
 * A socket whose holders we may not see is kept with `processes: []` and a warning.
 */
export function listSockets(options: ListSocketsOptions = {}): Promise<SocketInventory> {
  return listing(options)
}

/**
 * `listSockets({ ...options, allNamespaces: true })` over namespaces a caller found already
 * (`findNetworkNamespaces`), so that they are not looked for twice.
 */
export function listSocketsInNamespaces(
  namespaces: readonly NetworkNamespace[],
  options: ListSocketsOptions = {},
): Promise<SocketInventory> {
  return listing({ ...options, allNamespaces: true }, namespaces)
}

async function listing(
  options: ListSocketsOptions,
  namespaces?: readonly NetworkNamespace[],
): Promise<SocketInventory> {
  const procRoot = options.procRoot ?? '/proc'
  const backend = await chooseBackend(options.backend, procRoot)
  if (backend === 'lsof') {
    if (options.allNamespaces)
      throw new PortwardenError(
        'invalid_request',
        'Listing every network namespace needs the kernel tables (netlink or /proc); the lsof backend cannot tell namespaces apart.',
        { hint: 'Leave out --backend lsof, or list this namespace only.' },
      )
    // Loaded only when used: it pulls in child_process, which a /proc listing never needs.
    const { listSocketsWithLsof } = await import('./lsof-backend.js')
    const result = listSocketsWithLsof(options)
    await nameContainers(result.sockets, options)
    return { ...result, backend }
  }
  const result = await listSocketsFromKernel(options, procRoot, backend, namespaces)
  await nameContainers(result.sockets, options)
  // Without the addon the answer is the same, only slower: the CLI says so once per install
  // (cli/addon-note.ts), and `backend` tells a library caller which table answered.
  return { ...result, backend }
}

/** Holders that stand for a container get its name from the Docker Engine (see container-holders.ts). */
async function nameContainers(
  sockets: readonly SocketEntry[],
  options: ListSocketsOptions,
): Promise<void> {
  if (options.containers === false || !sockets.some((s) => s.processes.some(mayStandForContainer)))
    return
  await nameContainerHolders(sockets, options)
}

async function listSocketsFromKernel(
  options: ListSocketsOptions,
  procRoot: string,
  backend: 'netlink' | 'proc',
  namespaces?: readonly NetworkNamespace[],
): Promise<{ sockets: SocketEntry[]; warnings: Warning[] }> {
  // The holder scan is most of the cost: start it now (a worker thread boots meanwhile).
  const filtering = options.pid !== undefined || options.processName !== undefined
  const needHolders = options.withProcesses !== false || filtering
  // A full listing prints most holders: have the addon read their details on its thread too.
  const readDetails = !filtering && options.ports === undefined
  const scanner = needHolders
    ? startHolderScan(candidatePids(options, procRoot), procRoot, readDetails)
    : null
  try {
    const tables = options.allNamespaces
      ? await readEveryNamespace(
          options,
          procRoot,
          backend,
          namespaces ?? (await findNetworkNamespaces({ ...options, procRoot })),
        )
      : {
          raw: await readThisNamespace(options, procRoot, backend),
          warnings: [],
          entered: new Map<number, OtherNamespace>(),
        }
    const scan = (inodes: Uint32Array) =>
      scanner
        ? scanner.scan(inodes)
        : Promise.resolve({ holdersOf: () => [], unreadablePids: [], complete: false })
    const listed = await attachHolders(tables.raw, options, procRoot, scan, tables.entered)
    return { sockets: listed.sockets, warnings: [...tables.warnings, ...listed.warnings] }
  } finally {
    scanner?.dispose()
  }
}

/**
 * The tables of every network namespace reachable, each row tagged with its namespace: netlink
 * through the namespace's nsfs file (the addon enters it on a thread of its own), else the
 * `/proc/PID/net/*` of a process inside it. A namespace neither can read is a warning.
 */
async function readEveryNamespace(
  options: ListSocketsOptions,
  procRoot: string,
  backend: 'netlink' | 'proc',
  namespaces: readonly NetworkNamespace[],
): Promise<{ raw: RawSocket[]; warnings: Warning[]; entered: Map<number, OtherNamespace> }> {
  const raw: RawSocket[] = []
  const unread: string[] = []
  const entered = new Map<number, OtherNamespace>()
  for (const ns of namespaces) {
    let rows: RawSocket[] | null = null
    if (ns.tag.host) rows = await readThisNamespace(options, procRoot, backend)
    else {
      if (backend === 'netlink') rows = await readTablesNetlink(options, ns.path).catch(() => null)
      if (rows === null && ns.memberPid !== null) rows = readMemberTables(options, procRoot, ns)
      entered.set(ns.tag.inode, { path: ns.path, name: ns.tag.name })
    }
    if (rows === null) {
      unread.push(namespacePlace(ns.tag, ns.memberName))
      continue
    }
    for (const row of rows) {
      row.netns = ns.tag
      raw.push(row)
    }
  }
  const warnings: Warning[] = []
  if (unread.length > 0)
    warnings.push({
      code: 'namespace_unreadable',
      message: namespacesNotReadSentence(unread),
    })
  return { raw, warnings, entered }
}

/** This process's own namespace's tables. */
async function readThisNamespace(
  options: ListSocketsOptions,
  procRoot: string,
  backend: 'netlink' | 'proc',
): Promise<RawSocket[]> {
  return backend === 'netlink' ? await readTablesNetlink(options) : readTables(options, procRoot)
}

/** A namespace's tables as a process inside it sees them (`/proc/PID/net/*`), or null. */
function readMemberTables(
  options: ListSocketsOptions,
  procRoot: string,
  ns: NetworkNamespace,
): RawSocket[] | null {
  try {
    return readTables(options, `${procRoot}/${ns.memberPid}`)
  } catch {
    return null
  }
}

function readTables(options: ListSocketsOptions, procRoot: string): RawSocket[] {
  const protocols = options.protocols ?? ['tcp', 'udp']
  const families = options.families ?? ['ipv4', 'ipv6']
  const raw: RawSocket[] = []
  for (const table of PROC_TABLES) {
    if (!protocols.includes(table.protocol) || !families.includes(table.family)) continue
    const path = `${procRoot}/net/${table.file}`
    const text = readProcText(path)
    if (text === null) {
      if (table.family === 'ipv6') continue // IPv6 disabled: the table is simply absent
      throw new PortwardenError('proc_unreadable', `Cannot read ${path}.`, {
        hint: 'portwarden needs the proc filesystem; use --backend lsof where it is missing.',
      })
    }
    const ports = options.ports
    const all = options.all === true
    const rows = parseProcNet(text, table.protocol, table.family, (state, port) => {
      if (!all && !isListening(table.protocol, state)) return false
      return !ports || ports.some((spec) => specContains(spec, table.protocol, port))
    })
    // A loop, not push(...rows): spreading 100k rows as arguments can overflow the stack.
    for (const row of rows) raw.push(row)
  }
  return raw
}

async function attachHolders(
  raw: RawSocket[],
  options: ListSocketsOptions,
  procRoot: string,
  scanHolders: (inodes: Uint32Array) => Promise<HolderLookup>,
  otherNamespaces: ReadonlyMap<number, OtherNamespace> = new Map(),
): Promise<{ sockets: SocketEntry[]; warnings: Warning[] }> {
  const reader = new ProcessReader({ procRoot })
  const warnings: Warning[] = []
  const filtering = options.pid !== undefined || options.processName !== undefined
  if (options.withProcesses === false && !filtering)
    return { sockets: withoutHolders(raw, reader), warnings }
  const inodes = new Uint32Array(raw.length)
  let unowned = 0 // inode 0: TIME-WAIT and other sockets no file refers to
  for (let i = 0; i < raw.length; i++) {
    inodes[i] = (raw[i] as RawSocket).inode
    if (inodes[i] === 0) unowned++
  }
  const scan = await scanHolders(inodes.sort().subarray(unowned))
  if (scan.details) reader.prime(scan.details)
  const sockets: SocketEntry[] = []
  const hiddenOwners: number[] = []
  const taskless: SocketEntry[] = [] // no task holds them: the kernel's, if every task was seen
  for (const socket of raw) {
    const pids = socket.inode === 0 ? [] : scan.holdersOf(socket.inode)
    if (filtering && (options.pid === undefined ? pids.length === 0 : !pids.includes(options.pid)))
      continue
    const processes = []
    for (const pid of pids) {
      const holder = reader.holder(pid)
      if (holder) processes.push(holder)
    }
    if (options.processName !== undefined && !processes.some((p) => p.name === options.processName))
      continue
    const entry = withHolders(socket, reader.userName(socket.uid), processes)
    if (processes.length === 0 && socket.inode !== 0 && socket.state !== 'TIME-WAIT') {
      hiddenOwners.push(socket.uid)
      if (pids.length === 0) taskless.push(entry)
    }
    sockets.push(entry)
  }
  if (taskless.length > 0 && scan.complete && !filtering && procRoot === '/proc')
    await markKernelHeld(taskless, procRoot, otherNamespaces)
  if (hiddenOwners.length > 0 && scan.unreadablePids.length > 0 && !filtering)
    warnings.push(partialVisibility(hiddenOwners.length, hiddenOwners))
  return { sockets: sortSockets(sockets), warnings }
}

/**
 * Sockets no task held in a scan that saw every fd table: asked once more (a socket made after
 * its process's table was walked would look the same), then named by their kernel user.
 */
async function markKernelHeld(
  sockets: SocketEntry[],
  procRoot: string,
  otherNamespaces: ReadonlyMap<number, OtherNamespace>,
): Promise<void> {
  const inodes = Uint32Array.from(sockets, (s) => s.inode).sort()
  const again = startHolderScan(null, procRoot)
  let recheck: HolderLookup
  try {
    recheck = await again.scan(inodes)
  } finally {
    again.dispose()
  }
  if (!recheck.complete) return
  // Each namespace has its own devices: asked of the namespace a socket is in, once.
  const usersIn = new Map<number, KernelUsers>()
  const users = (socket: SocketEntry): KernelUsers => {
    const key = socket.netns && !socket.netns.host ? socket.netns.inode : 0
    let found = usersIn.get(key)
    if (!found) {
      found = readKernelUsers(procRoot, key === 0 ? undefined : otherNamespaces.get(key))
      usersIn.set(key, found)
    }
    return found
  }
  for (const socket of sockets) {
    if (recheck.holdersOf(socket.inode).length > 0) continue
    const holder = users(socket).holderOf(socket.protocol, socket.localPort)
    if (holder) socket.kernel = holder
  }
}

/**
 * Sockets with an inode but no visible holder, when some fd tables could not be read. `owners`:
 * their uids, where known; sudo is suggested only where root would see more.
 */
export function partialVisibility(hidden: number, owners: readonly number[] = []): Warning {
  const sockets = `${hidden} socket${hidden === 1 ? ' has' : 's have'} no visible holder`
  return {
    code: 'partial_visibility',
    message: rootWouldSeeHolder(owners)
      ? `${sockets}: other users' processes are hidden unless you run as root`
      : `${sockets}: ${hidden === 1 ? 'its process is' : 'their processes are'} ${notVisibleWhere(owners)}`,
  }
}

/** With a pid or name filter only the matching processes need their fd tables walked; null: all. */
function candidatePids(options: ListSocketsOptions, procRoot: string): number[] | null {
  if (options.pid !== undefined) return [options.pid]
  if (options.processName === undefined) return null
  return listPids(procRoot).filter(
    (pid) => readProcText(`${procRoot}/${pid}/comm`, 'utf8')?.trimEnd() === options.processName,
  )
}

/**
 * Table rows as a listing without holders (`withProcesses: false`): owners named, sorted. The
 * watcher makes its polls' listings with it from the dump's records.
 */
export function withoutHolders(
  raw: RawSocket[],
  reader: ProcessReader = new ProcessReader(),
): SocketEntry[] {
  return sortSockets(raw.map((s) => withHolders(s, reader.userName(s.uid), [])))
}

/** Completes a row in place: a copy per socket costs real time at 100k sockets. */
function withHolders(socket: RawSocket, user: string, processes: Holder[]): SocketEntry {
  const entry = socket as SocketEntry
  entry.user = user
  entry.processes = processes
  return entry
}

/**
 * Protocol, port, family, then address: one numeric key decides almost every comparison, so
 * 100k sockets are sorted as numbers (key and index packed in one float, no object per
 * socket), and only runs with the same key are sorted again by address, peer and inode.
 */
export function sortSockets<T extends RawSocket>(sockets: T[]): T[] {
  const INDEX_SPAN = 2 ** 24
  if (sockets.length >= INDEX_SPAN) throw new RangeError('too many sockets to sort')
  const keys = new Float64Array(sockets.length)
  for (let i = 0; i < sockets.length; i++) {
    const socket = sockets[i] as T
    const key =
      (socket.protocol === 'tcp' ? 0 : 1 << 18) +
      socket.localPort * 2 +
      (socket.family === 'ipv4' ? 0 : 1)
    keys[i] = key * INDEX_SPAN + i
  }
  keys.sort()
  const sorted = Array.from(keys, (packed) => sockets[packed % INDEX_SPAN] as T)
  for (let start = 0; start < sorted.length;) {
    const key = Math.floor((keys[start] as number) / INDEX_SPAN)
    let end = start + 1
    while (end < sorted.length && Math.floor((keys[end] as number) / INDEX_SPAN) === key) end++
    if (end - start > 1) {
      const run = sorted
        .slice(start, end)
        .sort(
          (a, b) =>
            (a.localAddress < b.localAddress ? -1 : a.localAddress > b.localAddress ? 1 : 0) ||
            a.remotePort - b.remotePort ||
            a.inode - b.inode,
        )
      for (let i = 0; i < run.length; i++) sorted[start + i] = run[i] as T
    }
    start = end
  }
  return sorted
}

/**
 * Every socket (any state) on the ports these specs name, grouped by `protocol:port`. Reads only
 * the tables of the protocols asked about: /proc/net/udp* cost time a TCP question never needs.
 */
export async function socketsOnPorts(
  specs: readonly PortSpec[],
  options: Pick<
    ListSocketsOptions,
    'backend' | 'procRoot' | 'containers' | 'dockerSocket' | 'dockerTimeoutMs' | 'allNamespaces'
  > = {},
): Promise<{ byPort: Map<string, SocketEntry[]>; inventory: SocketInventory }> {
  const inventory = await listSockets({
    all: true,
    boundInactive: true,
    ports: specs,
    protocols: [...new Set(specs.map((spec) => spec.protocol))],
    backend: options.backend,
    procRoot: options.procRoot,
    containers: options.containers,
    dockerSocket: options.dockerSocket,
    dockerTimeoutMs: options.dockerTimeoutMs,
    allNamespaces: options.allNamespaces,
  })
  const byPort = new Map<string, SocketEntry[]>()
  for (const socket of inventory.sockets) {
    const key = `${socket.protocol}:${socket.localPort}`
    const list = byPort.get(key)
    if (list) list.push(socket)
    else byPort.set(key, [socket])
  }
  return { byPort, inventory }
}
