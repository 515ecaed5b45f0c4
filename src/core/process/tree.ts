import type { ProcessMark } from './identity.js'
import { isSameProcess } from './identity.js'
import { parseProcStat, parseProcStatLine } from './parse-proc-pid.js'
import { listPids, readProcText } from './read-process.js'
import { signalVerified } from './signal.js'

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

type ParentTable = Map<number, { ppid: number; startTicks: number }>

/** Each pid's children, from one parent table. */
export function childrenOf(table: ParentTable): Map<number, number[]> {
  const children = new Map<number, number[]>()
  for (const [pid, { ppid }] of table) {
    const list = children.get(ppid)
    if (list) list.push(pid)
    else children.set(ppid, [pid])
  }
  return children
}

/** Every process below `root` (not `root` itself), breadth first: each parent before its children. */
export function descendantsOf(
  root: number,
  table: ParentTable,
  children: Map<number, number[]> = childrenOf(table),
): ProcessMark[] {
  const out: ProcessMark[] = []
  const queue = [...(children.get(root) ?? [])]
  const seen = new Set<number>([root])
  while (queue.length > 0) {
    const pid = queue.shift() as number
    if (seen.has(pid)) continue
    seen.add(pid)
    const entry = table.get(pid)
    if (entry) out.push({ pid, startTicks: entry.startTicks })
    queue.push(...(children.get(pid) ?? []))
  }
  return out
}

/** `root` and every process below it, with start times (a process that exited is left out). */
export function processTree(root: number, procRoot = '/proc'): ProcessMark[] {
  const table = readParentTable(procRoot)
  const entry = table.get(root)
  if (!entry) return []
  return [{ pid: root, startTicks: entry.startTicks }, ...descendantsOf(root, table)]
}

/**
 * Every process ever seen below a root (by pid + start time): what a service started stays
 * recorded after it is reparented, so what it leaves behind can still be found and stopped,
 * and a reused pid is never taken for one of them.
 */
export class TrackedTree {
  private readonly marks = new Map<string, ProcessMark>()
  readonly root: number
  private readonly procRoot: string | undefined

  constructor(root: number, procRoot?: string) {
    this.root = root
    this.procRoot = procRoot
  }

  /** Records the processes below the root now (only while the root runs: an exited pid may be another's). */
  remember(): ProcessMark[] {
    const now = processTree(this.root, this.procRoot)
    for (const mark of now) this.marks.set(`${mark.pid}:${mark.startTicks}`, mark)
    return now
  }

  /** The recorded processes that still run, optionally without the root itself. */
  alive(options: { withoutRoot?: boolean } = {}): ProcessMark[] {
    return [...this.marks.values()].filter(
      (mark) =>
        !(options.withoutRoot && mark.pid === this.root) && isSameProcess(mark, this.procRoot),
    )
  }

  /** Sends `signal` to each of `marks` that is still the process recorded (see `signalVerified`). */
  signal(marks: readonly ProcessMark[], signal: NodeJS.Signals): void {
    for (const mark of marks) signalVerified(mark, signal, { procRoot: this.procRoot })
  }
}

/**
 * Is this process in the foreground process group of its controlling terminal? Then a Ctrl-C
 * typed there reaches every process of the group, not only this one.
 */
export function inForegroundOfTerminal(pid: number = process.pid, procRoot = '/proc'): boolean {
  const stat = parseProcStatLine(readProcText(`${procRoot}/${pid}/stat`, 'utf8') ?? '')
  return stat !== null && stat.ttyNr !== 0 && stat.tpgid > 0 && stat.tpgid === stat.pgrp
}
