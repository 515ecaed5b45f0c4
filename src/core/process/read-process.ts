import { closeSync, openSync, readSync, readdirSync, readlinkSync, statSync } from 'node:fs'
import { PortwardenError, errnoOf } from '../errors.js'
import { showValue } from '../../shared/safe-text.js'
import type { Holder } from '../types.js'
import {
  parseBootTime,
  parseCmdline,
  parsePasswd,
  parseProcStat,
  parseSocketLink,
} from './parse-proc-pid.js'
import { describeContainerProxy } from '../containers/roles.js'

/** USER_HZ: the unit of /proc start times; 100 on every Linux architecture Node runs on. */
const CLOCK_TICKS_PER_SECOND = 100

// One buffer for every /proc read: these files report size 0, so read until EOF in large gulps.
let scratch = Buffer.allocUnsafe(1 << 16)

/**
 * Reads a /proc (or any) file whole. Returns null when it does not exist (a pid that exited)
 * or cannot be read; callers decide whether that matters.
 */
export function readProcText(path: string, encoding: BufferEncoding = 'latin1'): string | null {
  let fd: number
  try {
    fd = openSync(path, 'r')
  } catch {
    return null
  }
  try {
    let length = 0
    for (;;) {
      if (length === scratch.length) {
        const bigger = Buffer.allocUnsafe(scratch.length * 2)
        scratch.copy(bigger, 0, 0, length)
        scratch = bigger
      }
      const n = readSync(fd, scratch, length, scratch.length - length, null)
      if (n === 0) break
      length += n
    }
    return scratch.toString(encoding, 0, length)
  } catch {
    return null
  } finally {
    closeSync(fd)
  }
}

/** Is `pid` the process `ancestor` or one of its descendants? Follows ppid links up to 64 deep. */
export function isDescendantOf(pid: number, ancestor: number, procRoot = '/proc'): boolean {
  let current = pid
  for (let depth = 0; depth < 64 && current > 1; depth++) {
    if (current === ancestor) return true
    const stat = parseProcStat(readProcText(`${procRoot}/${current}/stat`, 'utf8') ?? '')
    if (!stat) return false
    current = stat.ppid
  }
  return current === ancestor
}

/** Numeric entries of /proc: every process visible to us. */
export function listPids(procRoot = '/proc'): number[] {
  let names: string[]
  try {
    names = readdirSync(procRoot)
  } catch (error) {
    const errno = errnoOf(error)
    const why =
      errno === 'ENOENT'
        ? 'it does not exist'
        : errno === 'ENOTDIR'
          ? 'it is not a directory'
          : (errno ?? 'error')
    throw new PortwardenError(
      'proc_unreadable',
      `Cannot list the processes in ${showValue(procRoot)}: ${why}.`,
      {
        hint: 'portwarden reads the proc filesystem (/proc); point procRoot at a mounted one.',
      },
    )
  }
  const pids: number[] = []
  for (const name of names) {
    const code = name.charCodeAt(0)
    if (code >= 48 && code <= 57) pids.push(Number(name))
  }
  return pids
}

export interface HolderScan {
  /** Socket inode → pids holding it, in pid order. */
  holders: Map<number, number[]>
  /** Pids whose fd table we were not allowed to read. */
  unreadablePids: number[]
}

/**
 * One pass over `/proc/<pid>/fd`, keeping only links to the wanted socket inodes. Pids that
 * exit mid-scan are skipped; pids we may not read are reported, not fatal.
 */
export function scanSocketHolders(
  wanted: ReadonlySet<number>,
  options: { procRoot?: string; pids?: readonly number[] } = {},
): HolderScan {
  const procRoot = options.procRoot ?? '/proc'
  const holders = new Map<number, number[]>()
  const unreadablePids: number[] = []
  if (wanted.size === 0) return { holders, unreadablePids }
  // Not root: another user's fd table is refused anyway, and a refused readdir costs a thrown
  // error; the owner of /proc/<pid> (the process's effective uid) tells us first.
  const euid = process.geteuid?.() ?? 0
  for (const pid of options.pids ?? listPids(procRoot)) {
    if (euid !== 0) {
      const owner = statSync(`${procRoot}/${pid}`, { throwIfNoEntry: false })
      if (!owner) continue
      if (owner.uid !== euid) {
        unreadablePids.push(pid)
        continue
      }
    }
    const fdDir = `${procRoot}/${pid}/fd/`
    let fds: string[]
    try {
      fds = readdirSync(fdDir)
    } catch (error) {
      const errno = errnoOf(error)
      if (errno === 'EACCES' || errno === 'EPERM') unreadablePids.push(pid)
      continue // ENOENT/ESRCH: the process exited while we looked
    }
    for (const fd of fds) {
      let target: string
      try {
        target = readlinkSync(fdDir + fd)
      } catch (error) {
        const errno = errnoOf(error)
        if (errno === 'EACCES' || errno === 'EPERM') {
          // Some sandboxes list the fd directory but refuse the links, even to root.
          unreadablePids.push(pid)
          break
        }
        continue // the fd was closed, or the process exited, between readdir and readlink
      }
      const inode = parseSocketLink(target)
      if (inode === null || !wanted.has(inode)) continue
      const list = holders.get(inode)
      if (!list) holders.set(inode, [pid])
      else if (list[list.length - 1] !== pid) list.push(pid)
    }
  }
  return { holders, unreadablePids }
}

/** What ProcessReader reads for a holder, when read ahead elsewhere (the addon's scan). */
export interface ProcessDetails {
  stat: string
  cmdline: string
  uid: number
}

/**
 * The addon's `details`: per pid, u32 pid, uid, stat length, cmdline length (host order), then
 * the bytes of /proc/<pid>/stat and /proc/<pid>/cmdline.
 */
export function parseProcessDetails(bytes: Buffer): Map<number, ProcessDetails> {
  const details = new Map<number, ProcessDetails>()
  for (let at = 0; at + 16 <= bytes.length;) {
    const pid = bytes.readUInt32LE(at)
    const uid = bytes.readUInt32LE(at + 4)
    const statEnd = at + 16 + bytes.readUInt32LE(at + 8)
    const end = statEnd + bytes.readUInt32LE(at + 12)
    if (end > bytes.length) break
    details.set(pid, {
      uid,
      stat: bytes.toString('utf8', at + 16, statEnd),
      cmdline: bytes.toString('utf8', statEnd, end),
    })
    at = end
  }
  return details
}

/** Process details, read lazily and cached for the life of one inventory. */
export class ProcessReader {
  private readonly procRoot: string
  private readonly cache = new Map<number, Holder | null>()
  private readAhead: ReadonlyMap<number, ProcessDetails> | undefined
  private readonly passwdPath: string
  private users: Map<number, string> | undefined
  private bootTime: number | null | undefined

  constructor(options: { procRoot?: string; passwdPath?: string } = {}) {
    this.procRoot = options.procRoot ?? '/proc'
    this.passwdPath = options.passwdPath ?? '/etc/passwd'
  }

  userName(uid: number): string {
    if (!this.users) this.users = parsePasswd(readProcText(this.passwdPath, 'utf8') ?? '')
    return this.users.get(uid) ?? String(uid)
  }

  private bootSeconds(): number | null {
    if (this.bootTime === undefined) {
      this.bootTime = parseBootTime(readProcText(`${this.procRoot}/stat`) ?? '')
    }
    return this.bootTime
  }

  /** Details read ahead for these pids are used instead of reading /proc again. */
  prime(details: ReadonlyMap<number, ProcessDetails>): void {
    this.readAhead = details
  }

  /** The holder record for a pid, or null if it exited. */
  holder(pid: number): Holder | null {
    if (this.cache.has(pid)) return this.cache.get(pid) ?? null
    const value = this.readHolder(pid)
    this.cache.set(pid, value)
    return value
  }

  private readHolder(pid: number): Holder | null {
    const base = `${this.procRoot}/${pid}`
    const ahead = this.readAhead?.get(pid)
    const stat = parseProcStat(ahead?.stat ?? readProcText(`${base}/stat`, 'utf8') ?? '')
    if (!stat) return null
    let uid: number
    try {
      uid = ahead?.uid ?? statSync(base).uid
    } catch {
      return null
    }
    const command = parseCmdline(
      (ahead ? ahead.cmdline : readProcText(`${base}/cmdline`, 'utf8')) ?? '',
    )
    const boot = this.bootSeconds()
    const startedAt =
      boot === null
        ? null
        : new Date((boot + stat.startTicks / CLOCK_TICKS_PER_SECOND) * 1000)
            .toISOString()
            .replace(/\.\d{3}Z$/, 'Z')
    return {
      pid,
      name: stat.comm,
      command,
      user: this.userName(uid),
      uid,
      startedAt,
      startTicks: stat.startTicks,
      container: describeContainerProxy(stat.comm, command),
    }
  }
}
