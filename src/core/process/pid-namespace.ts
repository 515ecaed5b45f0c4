import { constants } from 'node:os'
import { readProcText } from './read-process.js'

/**
 * A process that is pid 1 of a pid namespace of its own (a container's init, `unshare -p -f`).
 * The kernel drops every signal sent to such an init for which it has no handler, SIGKILL and
 * SIGSTOP aside (pid_namespaces(7)); and when it dies, the kernel kills every process in its
 * namespace.
 */
export interface NamespaceInit {
  /** The signals (numbers) it has a handler for (`SigCgt`). */
  caught: ReadonlySet<number>
}

/** The namespace-init facts of `pid`, or null when it is not pid 1 of a namespace of its own. */
export function readNamespaceInit(pid: number, procRoot = '/proc'): NamespaceInit | null {
  const status = readProcText(`${procRoot}/${pid}/status`, 'utf8')
  if (!status) return null
  const nspid = /^NSpid:\s+([\d\s]+)$/m.exec(status)?.[1]?.trim().split(/\s+/)
  // One number: this namespace's own process. Several: the last is its pid in its innermost one.
  if (!nspid || nspid.length < 2 || nspid[nspid.length - 1] !== '1') return null
  const mask = /^SigCgt:\s+([0-9a-f]+)$/m.exec(status)?.[1]
  const caught = new Set<number>()
  if (mask) {
    const bits = BigInt(`0x${mask}`)
    for (let signal = 1; signal <= 64; signal++)
      if ((bits >> BigInt(signal - 1)) & 1n) caught.add(signal)
  }
  return { caught }
}

/**
 * What `free` sending `signal` (then SIGKILL, when `thenKill`) to `pid` does differently from
 * usual, for a person; null for an ordinary process, or an init that handles the signal and
 * will not be killed.
 */
export function namespaceInitCaveat(
  pid: number,
  signal: NodeJS.Signals,
  thenKill: boolean,
  procRoot = '/proc',
): string | null {
  const init = readNamespaceInit(pid, procRoot)
  if (!init) return null
  const endsAll = 'SIGKILL ends the whole namespace (every process in it)'
  if (signal !== 'SIGKILL' && !init.caught.has(constants.signals[signal]))
    return `pid ${pid} is pid 1 of its own pid namespace and has no ${signal} handler: ${signal} is ignored; ${endsAll}`
  if (signal === 'SIGKILL' || thenKill)
    return `pid ${pid} is pid 1 of its own pid namespace: ${endsAll}`
  return null
}
