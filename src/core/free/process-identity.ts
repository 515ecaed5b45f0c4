import { readdirSync, readlinkSync } from 'node:fs'
import { isDescendantOf, readProcText } from '../process/read-process.js'
import { showValue } from '../../shared/safe-text.js'

/**
 * Who a pid *is*, as far as /proc can tell without a pidfd: the pid alone is only a number the
 * kernel hands out again once the process is gone (after ~30k forks, or ~10 ms in a busy pid
 * namespace). Recorded when `free` plans, compared right before every signal.
 */
export interface ProcessIdentity {
  pid: number
  /** `/proc/<pid>/stat` field 22: clock ticks since boot at start. */
  startTicks: number
  /** Real and effective uid (`/proc/<pid>/status` `Uid:`). */
  uid: number
  euid: number
  /** The kernel's short name. */
  comm: string
  /** The executable (`/proc/<pid>/exe`), or null where we may not read it (other users' processes). */
  exe: string | null
  /** The thread group: equal to pid for a process, different for a thread id. */
  tgid: number
}

interface StatFields {
  comm: string
  state: string
  startTicks: number
}

/** `/proc/<pid>/stat` (or a task's): comm (may contain `)` and spaces), state (field 3), starttime (field 22). */
function readStat(path: string, id: number): StatFields | null {
  const text = readProcText(path, 'utf8')
  if (text === null) return null
  const open = text.indexOf('(')
  const close = text.lastIndexOf(')')
  if (open < 1 || close < open || Number(text.slice(0, open).trim()) !== id) return null
  const rest = text.slice(close + 2).split(' ')
  const startTicks = Number(rest[19])
  if (!Number.isSafeInteger(startTicks) || rest[0] === undefined) return null
  return { comm: text.slice(open + 1, close), state: rest[0], startTicks }
}

/** A positive safe integer: anything else must never reach kill(2) (0, -1 and -N mean groups). */
export function isValidPid(pid: unknown): pid is number {
  return typeof pid === 'number' && Number.isSafeInteger(pid) && pid > 0
}

/**
 * The identity of a live process, or null when there is none: no such pid, a zombie (it has
 * exited; its sockets are closed), or a pid that changed while we read it.
 */
export function readIdentity(pid: number, procRoot = '/proc'): ProcessIdentity | null {
  if (!isValidPid(pid)) return null
  const before = readStat(`${procRoot}/${pid}/stat`, pid)
  if (!before || before.state === 'Z' || before.state === 'X') return null
  const status = readProcText(`${procRoot}/${pid}/status`, 'utf8')
  const uids = status ? /^Uid:\s+(\d+)\s+(\d+)/m.exec(status) : null
  const tgid = status ? /^Tgid:\s+(\d+)/m.exec(status) : null
  if (!uids || !tgid) return null
  let exe: string | null
  try {
    exe = readlinkSync(`${procRoot}/${pid}/exe`)
  } catch {
    exe = null // EACCES for other users' processes without root; ENOENT for kernel threads
  }
  // Read stat again: if the pid died and came back between the reads, the fields would mix.
  const after = readStat(`${procRoot}/${pid}/stat`, pid)
  if (!after || after.startTicks !== before.startTicks || after.comm !== before.comm) return null
  return {
    pid,
    startTicks: before.startTicks,
    uid: Number(uids[1]),
    euid: Number(uids[2]),
    comm: before.comm,
    exe,
    tgid: Number(tgid[1]),
  }
}

/**
 * Has the process `identity` describes finished exiting, every thread of it? Only then are its
 * sockets closed: a multi-threaded process's leader shows as a zombie (`Z`) while its other
 * threads still run their exit, and they share, and keep open, its file table.
 */
export function processExited(identity: ProcessIdentity, procRoot = '/proc'): boolean {
  const stat = readStat(`${procRoot}/${identity.pid}/stat`, identity.pid)
  if (!stat || stat.startTicks !== identity.startTicks) return true
  if (stat.state !== 'Z' && stat.state !== 'X') return false
  let tids: string[]
  try {
    tids = readdirSync(`${procRoot}/${identity.pid}/task`)
  } catch {
    return true
  }
  return tids.every((tid) => {
    const task = readStat(`${procRoot}/${identity.pid}/task/${tid}/stat`, Number(tid))
    return !task || task.state === 'Z' || task.state === 'X'
  })
}

export type IdentityCheck =
  | { status: 'same'; current: ProcessIdentity }
  | { status: 'gone' }
  | { status: 'changed'; current: ProcessIdentity; differences: string[] }

/** Is `expected.pid` still the process we recorded? Compares start time, uids, comm and exe. */
export function verifyIdentity(expected: ProcessIdentity, procRoot = '/proc'): IdentityCheck {
  const current = readIdentity(expected.pid, procRoot)
  if (!current) return { status: 'gone' }
  const differences = identityDifferences(expected, current)
  return differences.length === 0
    ? { status: 'same', current }
    : { status: 'changed', current, differences }
}

/** What differs between two identities of one pid, in words (`start time 123 → 456`). */
export function identityDifferences(expected: ProcessIdentity, current: ProcessIdentity): string[] {
  const differences: string[] = []
  if (current.pid !== expected.pid) differences.push(`pid ${expected.pid} → ${current.pid}`)
  if (current.startTicks !== expected.startTicks) {
    differences.push(`start time ${expected.startTicks} → ${current.startTicks} ticks`)
  }
  if (current.uid !== expected.uid || current.euid !== expected.euid) {
    differences.push(`uid ${expected.uid}/${expected.euid} → ${current.uid}/${current.euid}`)
  }
  if (current.comm !== expected.comm) {
    differences.push(`name ${JSON.stringify(expected.comm)} → ${JSON.stringify(current.comm)}`)
  }
  // Only comparable when both reads could see it; an exec() into another program changes it.
  if (expected.exe !== null && current.exe !== null && current.exe !== expected.exe) {
    differences.push(`executable ${expected.exe} → ${current.exe}`)
  }
  if (current.tgid !== expected.tgid)
    differences.push(`thread group ${expected.tgid} → ${current.tgid}`)
  return differences
}

export type UnsafeReason = 'invalid_pid' | 'init' | 'self' | 'ancestor' | 'thread'

/**
 * Pids `free` never signals, whatever a socket table says: not a positive safe integer (0, -1
 * and -N signal whole groups), pid 1, ourselves, our parent or any ancestor (the shell or the
 * supervisor that started us), or a thread of ours. Null when the pid may be considered.
 */
export function unsafeTarget(
  pid: unknown,
  options: { self?: number; parent?: number; procRoot?: string } = {},
): { reason: UnsafeReason; message: string } | null {
  const self = options.self ?? process.pid
  const parent = options.parent ?? process.ppid
  const procRoot = options.procRoot ?? '/proc'
  if (!isValidPid(pid)) {
    const shown = showValue(pid)
    const why =
      pid === 0
        ? 'kill(0) would signal our own process group'
        : pid === -1
          ? 'kill(-1) would signal every process we may signal'
          : typeof pid === 'number' && Number.isSafeInteger(pid) && pid < 0
            ? `kill(${pid}) would signal process group ${-pid}`
            : 'it is not a whole number in the range of process ids'
    return { reason: 'invalid_pid', message: `pid ${shown} is not a process id: ${why}` }
  }
  if (pid === 1)
    return { reason: 'init', message: 'pid 1 is the init process: stopping it stops the machine' }
  if (pid === self) return { reason: 'self', message: `pid ${pid} is portwarden itself` }
  if (pid === parent)
    return { reason: 'ancestor', message: `pid ${pid} is portwarden's parent process` }
  if (isDescendantOf(self, pid, procRoot)) {
    return {
      reason: 'ancestor',
      message: `pid ${pid} is an ancestor of portwarden (it started us)`,
    }
  }
  const status = readProcText(`${procRoot}/${pid}/status`, 'utf8')
  const tgid = status ? Number(/^Tgid:\s+(\d+)/m.exec(status)?.[1]) : pid
  if (Number.isSafeInteger(tgid) && tgid !== pid) {
    return {
      reason: 'thread',
      message: `pid ${pid} is a thread of process ${tgid}${tgid === self ? ' (portwarden itself)' : ''}, not a process`,
    }
  }
  return null
}
