/** Pure parsers for the per-process files under /proc. Total: bad text gives null, not a throw. */

export interface ProcStat {
  pid: number
  comm: string
  ppid: number
  /** Field 22: start time in clock ticks since boot. */
  startTicks: number
}

/** `/proc/<pid>/stat`. The name sits in parentheses and may itself contain `)` and spaces. */
export function parseProcStat(text: string): ProcStat | null {
  const open = text.indexOf('(')
  const close = text.lastIndexOf(')')
  if (open < 1 || close < open) return null
  const pid = Number(text.slice(0, open).trim())
  const comm = text.slice(open + 1, close)
  // After ")": field 3 (state) is index 0, so field N is index N - 3.
  const rest = text.slice(close + 2).split(' ')
  const ppid = Number(rest[1])
  const startTicks = Number(rest[19])
  if (
    !Number.isSafeInteger(pid) ||
    !Number.isSafeInteger(ppid) ||
    !Number.isSafeInteger(startTicks)
  ) {
    return null
  }
  return { pid, comm, ppid, startTicks }
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
