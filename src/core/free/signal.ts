import { errnoOf } from '../errors.js'
import type { FreeSignal } from './options.js'
import type { ProcessIdentity, UnsafeReason } from './process-identity.js'
import { identityDifferences, unsafeTarget, verifyIdentity } from './process-identity.js'

/** How a signal is delivered; tests replace it to see what would have been sent. */
export type KillFunction = (pid: number, signal: FreeSignal) => void

export type SignalAttempt =
  | { sent: true; signal: FreeSignal; at: string }
  | {
      sent: false
      signal: FreeSignal
      /**
       * `unsafe`: a pid we never signal; `gone`: it exited; `changed`: the pid now belongs to
       * another process (pid reuse); `permission_denied`: EPERM; `failed`: any other error.
       */
      reason: UnsafeReason | 'gone' | 'changed' | 'permission_denied' | 'failed'
      message: string
    }

/**
 * Sends `signal` to the process `expected` describes, and to nothing else: refuses unsafe pids,
 * then re-reads the pid's identity (start time, uids, comm, exe) and refuses when it differs.
 *
 * The window that remains: Node has no pidfd API (pidfd_open + pidfd_send_signal), so between
 * the last read of /proc/<pid>/stat in `verifyIdentity` and the kill(2) below the process could
 * exit, be reaped by its parent, and its pid be handed to a new process. That needs the whole pid
 * space to wrap (or a pid namespace reusing it) within those few microseconds; the start-time
 * check closes every window longer than that. A new process started within the same clock tick
 * (10 ms) with the same uid, comm and exe is indistinguishable without a pidfd.
 */
export function signalVerified(
  expected: ProcessIdentity,
  signal: FreeSignal,
  options: { procRoot?: string; kill?: KillFunction } = {},
): SignalAttempt {
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
  const kill = options.kill ?? ((pid: number, name: FreeSignal) => void process.kill(pid, name))
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
