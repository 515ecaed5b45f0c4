import { errnoOf } from '../errors.js'
import { showValue } from '../../shared/safe-text.js'
import type { ProcessIdentity, ProcessMark } from './identity.js'
import { identityDifferences, isValidPid, verifyIdentity } from './identity.js'
import { isDescendantOf, readProcText } from './read-process.js'

/**
 * Signalling processes safely, the one place that calls kill(2): `free`, `run` (a service's
 * tree, a relayed Ctrl-C) and `prune` all go through `signalVerified`.
 */

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

/** How a signal is delivered; tests replace it to see what would have been sent. */
export type KillFunction<S extends NodeJS.Signals = NodeJS.Signals> = (
  pid: number,
  signal: S,
) => void

export type SignalAttempt<S extends NodeJS.Signals = NodeJS.Signals> =
  | { sent: true; signal: S; at: string }
  | {
      sent: false
      signal: S
      /**
       * `unsafe`: a pid we never signal; `gone`: it exited; `changed`: the pid now belongs to
       * another process (pid reuse); `permission_denied`: EPERM; `failed`: any other error.
       */
      reason: UnsafeReason | 'gone' | 'changed' | 'permission_denied' | 'failed'
      message: string
    }

/**
 * Sends `signal` to the process `expected` describes, and to nothing else: refuses unsafe pids,
 * then re-reads the pid's identity (start time; of a full identity also uids, comm, exe) and
 * refuses when it differs.
 *
 * The window that remains: Node has no pidfd API (pidfd_open + pidfd_send_signal), so between
 * the last read of /proc/<pid>/stat in `verifyIdentity` and the kill(2) below the process could
 * exit, be reaped by its parent, and its pid be handed to a new process. That needs the whole pid
 * space to wrap (or a pid namespace reusing it) within those few microseconds; the start-time
 * check closes every window longer than that. A new process started within the same clock tick
 * (10 ms) with the same uid, comm and exe is indistinguishable without a pidfd.
 */
export function signalVerified<S extends NodeJS.Signals>(
  expected: ProcessMark | ProcessIdentity,
  signal: S,
  options: { procRoot?: string; kill?: KillFunction<S> } = {},
): SignalAttempt<S> {
  const procRoot = options.procRoot ?? '/proc'
  const unsafe = unsafeTarget(expected.pid, { procRoot })
  if (unsafe) return { sent: false, signal, reason: unsafe.reason, message: unsafe.message }
  const check = verifyIdentity(expected, procRoot)
  if (check.status === 'gone') {
    return { sent: false, signal, reason: 'gone', message: `pid ${expected.pid} has exited` }
  }
  if (check.status === 'changed') {
    return {
      sent: false,
      signal,
      reason: 'changed',
      message: `pid ${expected.pid} is no longer the process that was planned (${identityDifferences(expected, check.current).join(', ')}); not signalled`,
    }
  }
  const kill = options.kill ?? ((pid: number, name: S) => void process.kill(pid, name))
  try {
    kill(expected.pid, signal)
  } catch (error) {
    const errno = errnoOf(error)
    if (errno === 'ESRCH')
      return { sent: false, signal, reason: 'gone', message: `pid ${expected.pid} has exited` }
    if (errno === 'EPERM') {
      return {
        sent: false,
        signal,
        reason: 'permission_denied',
        message: `not allowed to signal pid ${expected.pid} (EPERM)`,
      }
    }
    return {
      sent: false,
      signal,
      reason: 'failed',
      message: `sending ${signal} to pid ${expected.pid} failed: ${error instanceof Error ? error.message : String(error)}`,
    }
  }
  return { sent: true, signal, at: new Date().toISOString() }
}
