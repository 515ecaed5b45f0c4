import { readdirSync, readlinkSync } from 'node:fs'
import type { ProcStatLine } from './parse-proc-pid.js'
import { parseProcStatLine } from './parse-proc-pid.js'
import { readProcText } from './read-process.js'

/**
 * A process as it was when we saw it: the pid with its start time. Enough to tell a reused pid
 * (a new process gets a new start time); what `run` records of every process of a service.
 */
export interface ProcessMark {
  pid: number
  /** `/proc/<pid>/stat` field 22: clock ticks since boot at start. */
  startTicks: number
}

/**
 * Who a pid *is*, as far as /proc can tell without a pidfd: the pid alone is only a number the
 * kernel hands out again once the process is gone (after ~30k forks, or ~10 ms in a busy pid
 * namespace). Recorded when `free` plans, compared right before every signal.
 */
export interface ProcessIdentity extends ProcessMark {
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

/** `/proc/<pid>/stat` (or a task's), when it is the line of `id`. */
function readStat(path: string, id: number): ProcStatLine | null {
  const stat = parseProcStatLine(readProcText(path, 'utf8') ?? '')
  return stat && stat.pid === id ? stat : null
}

function isDead(stat: ProcStatLine): boolean {
  return stat.state === 'Z' || stat.state === 'X'
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
  if (!before || isDead(before)) return null
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
export function processExited(identity: ProcessMark, procRoot = '/proc'): boolean {
  const stat = readStat(`${procRoot}/${identity.pid}/stat`, identity.pid)
  if (!stat || stat.startTicks !== identity.startTicks) return true
  if (!isDead(stat)) return false
  let tids: string[]
  try {
    tids = readdirSync(`${procRoot}/${identity.pid}/task`)
  } catch {
    return true
  }
  return tids.every((tid) => {
    const task = readStat(`${procRoot}/${identity.pid}/task/${tid}/stat`, Number(tid))
    return !task || isDead(task)
  })
}

export type IdentityCheck =
  | { status: 'same'; current: ProcessIdentity }
  | { status: 'gone' }
  | { status: 'changed'; current: ProcessIdentity; differences: string[] }

/**
 * Is `expected.pid` still the process we recorded? Compares start time, and for a full identity
 * also uids, comm and exe. A zombie is `gone`: it has exited and holds nothing.
 */
export function verifyIdentity(
  expected: ProcessMark | ProcessIdentity,
  procRoot = '/proc',
): IdentityCheck {
  const current = readIdentity(expected.pid, procRoot)
  if (!current) return { status: 'gone' }
  const differences = identityDifferences(expected, current)
  return differences.length === 0
    ? { status: 'same', current }
    : { status: 'changed', current, differences }
}

/** Is this still the process we recorded (same pid, same start time, not a zombie)? */
export function isSameProcess(identity: ProcessMark, procRoot = '/proc'): boolean {
  return verifyIdentity(identity, procRoot).status === 'same'
}

/**
 * What differs between two identities of one pid, in words (`start time 123 → 456`); of a mark,
 * only pid and start time are compared.
 */
export function identityDifferences(
  expected: ProcessMark | ProcessIdentity,
  current: ProcessIdentity,
): string[] {
  const differences: string[] = []
  if (current.pid !== expected.pid) differences.push(`pid ${expected.pid} → ${current.pid}`)
  if (current.startTicks !== expected.startTicks) {
    differences.push(`start time ${expected.startTicks} → ${current.startTicks} ticks`)
  }
  if (!('uid' in expected)) return differences
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
