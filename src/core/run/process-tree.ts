import { parseProcStat } from '../process/parse-proc-pid.js'
import { listPids, readProcText } from '../process/read-process.js'

/** A process as it was when we saw it: the pid with its start time (pid reuse changes the latter). */
export interface ProcessIdentity {
  pid: number
  startTicks: number
}

/** Every visible process's parent, from one pass over `/proc/<pid>/stat`. */
export function readParentTable(
  procRoot = '/proc',
): Map<number, { ppid: number; startTicks: number }> {
  const table = new Map<number, { ppid: number; startTicks: number }>()
  for (const pid of listPids(procRoot)) {
    const stat = parseProcStat(readProcText(`${procRoot}/${pid}/stat`, 'utf8') ?? '')
    if (stat) table.set(pid, { ppid: stat.ppid, startTicks: stat.startTicks })
  }
  return table
}

/** `root` and every process below it, with start times (a process that exited is left out). */
export function processTree(root: number, procRoot = '/proc'): ProcessIdentity[] {
  const table = readParentTable(procRoot)
  const children = new Map<number, number[]>()
  for (const [pid, { ppid }] of table) {
    const list = children.get(ppid)
    if (list) list.push(pid)
    else children.set(ppid, [pid])
  }
  const out: ProcessIdentity[] = []
  const rootEntry = table.get(root)
  if (!rootEntry) return out
  const queue = [root]
  const seen = new Set<number>()
  while (queue.length > 0) {
    const pid = queue.shift() as number
    if (seen.has(pid)) continue
    seen.add(pid)
    const entry = table.get(pid)
    if (entry) out.push({ pid, startTicks: entry.startTicks })
    for (const child of children.get(pid) ?? []) queue.push(child)
  }
  return out
}

/** Is this still the process we recorded (same pid, same start time, not a zombie)? */
export function isSameProcess(identity: ProcessIdentity, procRoot = '/proc'): boolean {
  const text = readProcText(`${procRoot}/${identity.pid}/stat`, 'utf8') ?? ''
  const stat = parseProcStat(text)
  if (stat === null || stat.startTicks !== identity.startTicks) return false
  return text.charAt(text.lastIndexOf(')') + 2) !== 'Z'
}

/**
 * Is this process in the foreground process group of its controlling terminal? Then a Ctrl-C
 * typed there reaches every process of the group, not only this one.
 */
export function inForegroundOfTerminal(pid: number = process.pid, procRoot = '/proc'): boolean {
  const text = readProcText(`${procRoot}/${pid}/stat`, 'utf8') ?? ''
  const close = text.lastIndexOf(')')
  if (close < 0) return false
  // After ")": state, ppid, pgrp, session, tty_nr, tpgid
  const fields = text.slice(close + 2).split(' ')
  const pgrp = Number(fields[2])
  const ttyNr = Number(fields[4])
  const tpgid = Number(fields[5])
  return ttyNr !== 0 && tpgid > 0 && tpgid === pgrp
}
