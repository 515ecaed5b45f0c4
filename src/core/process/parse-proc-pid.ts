/** Pure parsers for the per-process files under /proc. Total: bad text gives null, not a throw. */

export interface ProcStat {
  pid: number
  comm: string
  ppid: number
  /** Field 22: start time in clock ticks since boot. */
  startTicks: number
}

/** Every field of a `/proc/<pid>/stat` line this project reads, from one parse. */
export interface ProcStatLine extends ProcStat {
  /** Field 3: R, S, D, Z (zombie), X (dead), T, t, I ... */
  state: string
  /** Fields 5-8: process group, session, controlling terminal (0: none), its foreground group. */
  pgrp: number
  session: number
  ttyNr: number
  tpgid: number
}

/**
 * `/proc/<pid>/stat` (or a task's), the one parse of it. The name sits in parentheses and may
 * itself contain `)` and spaces, so fields are counted from the last `)`.
 */
export function parseProcStatLine(text: string): ProcStatLine | null {
  const open = text.indexOf('(')
  const close = text.lastIndexOf(')')
  if (open < 1 || close < open) return null
  const pid = Number(text.slice(0, open).trim())
  const comm = text.slice(open + 1, close)
  // After ")": field 3 (state) is index 0, so field N is index N - 3.
  const rest = text.slice(close + 2).split(' ')
  const [ppid, pgrp, session, ttyNr, tpgid] = rest.slice(1, 6).map(Number)
  const startTicks = Number(rest[19])
  const state = rest[0] ?? ''
  const numbers = [pid, ppid, pgrp, session, ttyNr, tpgid, startTicks]
  if (state === '' || !numbers.every((n) => n !== undefined && Number.isSafeInteger(n))) {
    return null
  }
  return {
    pid,
    comm,
    ppid: ppid as number,
    startTicks,
    state,
    pgrp: pgrp as number,
    session: session as number,
    ttyNr: ttyNr as number,
    tpgid: tpgid as number,
  }
}

/** `/proc/<pid>/stat`: pid, name, parent and start time (see `parseProcStatLine`). */
export function parseProcStat(text: string): ProcStat | null {
  const line = parseProcStatLine(text)
  return line && { pid: line.pid, comm: line.comm, ppid: line.ppid, startTicks: line.startTicks }
}

/** `/proc/<pid>/cmdline`: NUL-separated arguments → one line, as `ps` shows it. */
export function parseCmdline(text: string): string {
  let end = text.length
  while (end > 0 && text.charCodeAt(end - 1) === 0) end--
  return text.slice(0, end).split('\0').join(' ')
}

/** `/etc/passwd` → uid → user name. */
export function parsePasswd(text: string): Map<number, string> {
  const users = new Map<number, string>()
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue
    const fields = line.split(':')
    if (fields.length < 3) continue
    const name = fields[0] as string
    const uid = Number(fields[2])
    if (name && /^[0-9]+$/.test(fields[2] as string) && !users.has(uid)) users.set(uid, name)
  }
  return users
}

/** `/proc/stat` → boot time in seconds since the epoch, or null. */
export function parseBootTime(text: string): number | null {
  const match = /^btime (\d+)$/m.exec(text)
  return match ? Number(match[1]) : null
}

/** The target of a `/proc/<pid>/fd/N` link that is a socket: `socket:[12345]` → 12345. */
export function parseSocketLink(target: string): number | null {
  if (!target.startsWith('socket:[') || !target.endsWith(']')) return null
  const inode = Number(target.slice(8, -1))
  return Number.isSafeInteger(inode) && inode > 0 ? inode : null
}
