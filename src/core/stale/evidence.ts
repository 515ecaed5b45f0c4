/**
 * The signs that a port's holder is a leftover rather than a live service: only what can be
 * seen in /proc, the socket table, the registry and the service's own answer. Gathered per
 * asked holder (never per socket of a listing): each read is a few /proc files.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import { parseProcStatLine } from '../process/parse-proc-pid.js'
import { readProcText } from '../process/read-process.js'
import type { Allocation } from '../registry/types.js'
import type { SocketEntry } from '../types.js'

/** Parents a process is re-parented to when its launcher exits (by their kernel name). */
const SUBREAPERS = new Set([
  'systemd',
  'tini',
  'dumb-init',
  'catatonit',
  'docker-init',
  'containerd-shim',
  's6-svscan',
  'runit',
])

export interface WorktreeSign {
  /** The worktree's directory, and its name (the directory's last part, as git names it). */
  path: string
  name: string
  /** The directory is still there. */
  exists: boolean
  /** Still in its repository's `git worktree list` (null: repository not known/readable). */
  listed: boolean | null
}

export interface RegistrySign {
  project: string
  service: string
  /** `other_project`: allocated to a project this holder is not from; `other_pid`: to its
   * project, but recorded for another process. */
  kind: 'other_project' | 'other_pid'
  pid: number | null
}

export interface Evidence {
  /** Parent is pid 1 or a subreaper: the launcher is gone. */
  orphaned: {
    parentPid: number
    parentName: string
    /**
     * When the holder's own parent is alive but is the orphan (`npm run dev` adopted by init,
     * its `node` child holding the port): that launcher, the top of the holder's process group.
     */
    launcher: { pid: number; name: string } | null
  } | null
  cwd: string | null
  cwdDeleted: boolean
  /** `deleted`: the executable file was removed; `replaced`: another file now has its name. */
  exe: 'deleted' | 'replaced' | null
  worktree: WorktreeSign | null
  registry: RegistrySign | null
  /** Established connections on the holder's port now; idle time only when measured. */
  connections: { established: number; idleMs: number | null; idleMeasured: boolean }
  /** The HTTP status the port answered `GET /` with (null: not HTTP, not asked, or no answer). */
  httpStatus: number | null
  /** Another process with the same command line and cwd, holding a different port. */
  duplicate: { pid: number; port: number } | null
  /** Milliseconds since the process started (context only). */
  ageMs: number | null
}

export interface EvidenceContext {
  /** The socket table as already listed (for connections and duplicates). */
  sockets?: readonly SocketEntry[]
  /** Registry allocations of this port (any project). */
  allocations?: readonly Allocation[]
  /** Ask `GET /` on the port (loopback) with this timeout; 0 or absent: not asked. */
  httpTimeoutMs?: number
  procRoot?: string
  now?: number
}

export interface HolderRef {
  pid: number
  port: number
  protocol?: 'tcp' | 'udp'
  startedAt?: string | null
  command?: string
}

const DELETED = ' (deleted)'

function readLink(path: string): string | null {
  try {
    return readlinkSync(path)
  } catch {
    return null
  }
}

function cwdOfLink(link: string | null): { cwd: string | null; deleted: boolean } {
  const deleted = link !== null && link.endsWith(DELETED)
  return { cwd: link === null ? null : deleted ? link.slice(0, -DELETED.length) : link, deleted }
}

/** A process's working directory (its path even once deleted), or null when unreadable. */
export function readCwd(pid: number, procRoot = '/proc'): { cwd: string | null; deleted: boolean } {
  return cwdOfLink(readLink(`${procRoot}/${pid}/cwd`))
}

/** Is `pid` one that adopts orphans: init, a known subreaper, or one named in the environment? */
export function isReaper(pid: number, procRoot = '/proc'): boolean {
  if (pid === 1) return true
  const stat = parseProcStatLine(readProcText(`${procRoot}/${pid}/stat`, 'utf8') ?? '')
  return (stat !== null && SUBREAPERS.has(stat.comm)) || isSubreaperOfCaller(pid, procRoot)
}

function orphanSign(pid: number, procRoot: string): Evidence['orphaned'] {
  const stat = parseProcStatLine(readProcText(`${procRoot}/${pid}/stat`, 'utf8') ?? '')
  if (!stat) return null
  const parent = parseProcStatLine(readProcText(`${procRoot}/${stat.ppid}/stat`, 'utf8') ?? '')
  const parentName = parent?.comm ?? (stat.ppid === 1 ? 'init' : '?')
  if (isReaper(stat.ppid, procRoot)) return { parentPid: stat.ppid, parentName, launcher: null }
  // Up the launcher chain of the holder's own process group (a job started together): when the
  // chain's top was adopted by a reaper, the terminal or agent that started the job is gone.
  let launcher = parent
  for (let depth = 0; launcher && launcher.pgrp === stat.pgrp && depth < 32; depth++) {
    if (isReaper(launcher.ppid, procRoot)) {
      const reaper = parseProcStatLine(
        readProcText(`${procRoot}/${launcher.ppid}/stat`, 'utf8') ?? '',
      )
      return {
        parentPid: launcher.ppid,
        parentName: reaper?.comm ?? (launcher.ppid === 1 ? 'init' : '?'),
        launcher: { pid: launcher.pid, name: launcher.comm },
      }
    }
    launcher = parseProcStatLine(readProcText(`${procRoot}/${launcher.ppid}/stat`, 'utf8') ?? '')
  }
  return null
}

/**
 * A parent that set PR_SET_CHILD_SUBREAPER cannot be told from /proc; a process whose parent is
 * not the one that ran it shows it by a session/process group it did not create. We name only
 * the well-known reapers above and pid 1, and (for tests and nested runners) the environment's
 * PORTWARDEN_SUBREAPER_PIDS list.
 */
function isSubreaperOfCaller(ppid: number, _procRoot: string): boolean {
  const list = process.env.PORTWARDEN_SUBREAPER_PIDS
  return list !== undefined && list.split(',').map(Number).includes(ppid)
}

function exeSign(pid: number, procRoot: string): Evidence['exe'] {
  const link = readLink(`${procRoot}/${pid}/exe`)
  if (link === null) return null
  // An upgrade renames a new file over the old one: the old inode shows as deleted too.
  if (link.endsWith(DELETED))
    return existsSync(link.slice(0, -DELETED.length)) ? 'replaced' : 'deleted'
  try {
    const running = statSync(`${procRoot}/${pid}/exe`)
    const onDisk = statSync(link)
    return running.ino === onDisk.ino && running.dev === onDisk.dev ? null : 'replaced'
  } catch {
    return 'deleted'
  }
}

/** The directory with a `.git` file (a linked worktree) at or above `path`, if any exists. */
function findWorktree(path: string): string | null {
  let dir = path
  for (;;) {
    const git = join(dir, '.git')
    try {
      if (statSync(git).isFile()) return dir
      return null // a main checkout's .git directory: not a linked worktree
    } catch {
      // not here; go up
    }
    const up = dirname(dir)
    if (up === dir) return null
    dir = up
  }
}

/**
 * `git worktree list` of a repository, asked once while its worktree records are unchanged: one
 * answer judges many holders (every namespace's, every port's), and each git run costs
 * milliseconds. `git worktree add`/`remove`/`prune` change the `worktrees` directory; `move` and
 * `repair` rewrite only each record's `gitdir` file (the worktree's path), so those are stamped too.
 */
const worktreeLists = new Map<string, { stamp: string; worktrees: Set<string> | null }>()

/** One stat of the `worktrees` directory and one of each record's `gitdir`, in nanoseconds. */
function worktreesStamp(common: string): string {
  const dir = join(common, 'worktrees')
  let stamp: string
  try {
    const stat = statSync(dir, { bigint: true })
    stamp = `${stat.mtimeNs}:${stat.ctimeNs}:${stat.nlink}`
  } catch {
    return 'none'
  }
  let names: string[]
  try {
    names = readdirSync(dir).sort()
  } catch {
    return stamp
  }
  for (const name of names) {
    try {
      const stat = statSync(join(dir, name, 'gitdir'), { bigint: true })
      stamp += `|${name}:${stat.ino}:${stat.mtimeNs}:${stat.ctimeNs}:${stat.size}`
    } catch {
      stamp += `|${name}:-`
    }
  }
  return stamp
}

function worktreesOf(common: string): Set<string> | null {
  const stamp = worktreesStamp(common)
  const cached = worktreeLists.get(common)
  if (cached && cached.stamp === stamp) return cached.worktrees
  let worktrees: Set<string> | null
  try {
    const out = execFileSync('git', ['--git-dir', common, 'worktree', 'list', '--porcelain'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 2000,
    })
    worktrees = new Set(
      out
        .split('\n')
        .filter((line) => line.startsWith('worktree '))
        .map((line) => line.slice('worktree '.length)),
    )
  } catch {
    worktrees = null
  }
  worktreeLists.set(common, { stamp, worktrees })
  return worktrees
}

function listedInRepo(worktree: string): boolean | null {
  try {
    const text = readFileSync(join(worktree, '.git'), 'utf8')
    const gitdir = /^gitdir:\s*(.+)$/m.exec(text)?.[1]?.trim()
    if (!gitdir) return null
    // <repo>/.git/worktrees/<name> → the common dir <repo>/.git
    const listed = worktreesOf(resolve(worktree, gitdir, '..', '..'))
    return listed === null ? null : listed.has(worktree)
  } catch {
    return null
  }
}

/** `path` is `dir` or below it. */
export function isInside(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith('/') ? dir : `${dir}/`)
}

function worktreeSign(
  paths: readonly string[],
  allocations: readonly Allocation[],
): WorktreeSign | null {
  // The cwd first, then the command line's paths (a script run from elsewhere).
  for (const path of paths) {
    const found = findWorktree(path)
    if (found) {
      return { path: found, name: basename(found), exists: true, listed: listedInRepo(found) }
    }
    // A removed worktree leaves nothing on disk to find it by; the registry remembers it.
    for (const allocation of allocations) {
      const dir = allocation.worktree
      if (dir !== null && isInside(path, dir) && !existsSync(dir)) {
        return { path: dir, name: basename(dir), exists: false, listed: false }
      }
    }
  }
  return null
}

function commandPaths(pid: number, procRoot: string): string[] {
  const raw = readProcText(`${procRoot}/${pid}/cmdline`, 'utf8') ?? ''
  return raw.split('\0').filter((arg) => arg.startsWith('/') && arg.length > 1)
}

function registrySign(
  pid: number,
  paths: readonly string[],
  allocations: readonly Allocation[],
): RegistrySign | null {
  for (const row of allocations) {
    const ours =
      row.worktree !== null && paths.some((path) => isInside(path, row.worktree as string))
    if (row.worktree !== null && !ours) {
      return { project: row.project, service: row.service, kind: 'other_project', pid: row.pid }
    }
    if (row.pid !== null && row.pid !== pid) {
      return { project: row.project, service: row.service, kind: 'other_pid', pid: row.pid }
    }
  }
  return null
}

/**
 * Connections the holder has accepted, and those still in its accept queue: the kernel finishes the
 * handshake before accept(), and until then the connection belongs to no process (inode 0). A
 * client waiting there is as much a user of the port as one being served.
 */
function connectionCount(pid: number, port: number, sockets: readonly SocketEntry[]): number {
  return sockets.filter(
    (s) =>
      s.protocol === 'tcp' &&
      s.state === 'ESTAB' &&
      s.localPort === port &&
      (s.processes.length === 0 || s.processes.some((holder) => holder.pid === pid)) &&
      !(probing.has(s.remotePort) && isLoopback(s.remoteAddress)),
  ).length
}

function duplicateSign(
  pid: number,
  port: number,
  cwd: string | null,
  sockets: readonly SocketEntry[],
  procRoot: string,
): Evidence['duplicate'] {
  const command = readProcText(`${procRoot}/${pid}/cmdline`, 'latin1')
  if (!command) return null
  // Each other holder is read once, however many sockets it holds (prune passes every socket).
  const twin = new Map<number, boolean>()
  const isTwin = (other: number): boolean => {
    let same = twin.get(other)
    if (same === undefined) {
      same =
        readProcText(`${procRoot}/${other}/cmdline`, 'latin1') === command &&
        readLink(`${procRoot}/${other}/cwd`) === cwd
      twin.set(other, same)
    }
    return same
  }
  for (const socket of sockets) {
    if (socket.state !== 'LISTEN' && socket.protocol === 'tcp') continue
    if (socket.localPort === port) continue
    for (const other of socket.processes)
      if (other.pid !== pid && isTwin(other.pid)) return { pid: other.pid, port: socket.localPort }
  }
  return null
}

/** Local ports of this process's probes still open: a concurrent judgement must not count them. */
const probing = new Set<number>()

/**
 * `GET /` on loopback: the status, or null (not HTTP, no answer in time). The connection is
 * never kept (no agent, destroyed once the status line is read): a long-running caller (`serve`,
 * `mcp`) must not leave a connection that the next judgement would count as the holder's traffic.
 */
async function httpStatus(port: number, timeoutMs: number): Promise<number | null> {
  const { request } = await import('node:http')
  return new Promise((resolve) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/', method: 'GET', agent: false, timeout: timeoutMs },
      (res) => {
        resolve(res.statusCode ?? null)
        req.destroy()
      },
    )
    req.once('socket', (socket) => {
      socket.once('connect', () => {
        const local = socket.localPort
        if (local === undefined) return
        probing.add(local)
        socket.once('close', () => probing.delete(local))
      })
    })
    const timer = setTimeout(() => {
      resolve(null)
      req.destroy()
    }, timeoutMs)
    req.once('close', () => clearTimeout(timer))
    req.once('error', () => resolve(null))
    req.once('timeout', () => {
      resolve(null)
      req.destroy()
    })
    req.end()
  })
}

/** The evidence about one holder of one port. */
export async function gatherEvidence(
  holder: HolderRef,
  context: EvidenceContext = {},
): Promise<Evidence> {
  const procRoot = context.procRoot ?? '/proc'
  const sockets = context.sockets ?? []
  const allocations = context.allocations ?? []
  const link = readLink(`${procRoot}/${holder.pid}/cwd`)
  const { cwd, deleted: cwdDeleted } = cwdOfLink(link)
  const paths = [...(cwd === null ? [] : [cwd]), ...commandPaths(holder.pid, procRoot)]
  const started = holder.startedAt ? Date.parse(holder.startedAt) : NaN
  const now = context.now ?? Date.now()
  const asksHttp = (context.httpTimeoutMs ?? 0) > 0 && (holder.protocol ?? 'tcp') === 'tcp'
  return {
    orphaned: orphanSign(holder.pid, procRoot),
    cwd,
    cwdDeleted,
    exe: exeSign(holder.pid, procRoot),
    worktree: worktreeSign(paths, allocations),
    registry: registrySign(holder.pid, paths, allocations),
    connections: {
      established: connectionCount(holder.pid, holder.port, sockets),
      idleMs: null,
      idleMeasured: false,
    },
    httpStatus: asksHttp ? await httpStatus(holder.port, context.httpTimeoutMs as number) : null,
    duplicate: duplicateSign(holder.pid, holder.port, link, sockets, procRoot),
    ageMs: Number.isNaN(started) ? null : Math.max(0, now - started),
  }
}

function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1' || address.startsWith('::ffff:127.')
}
