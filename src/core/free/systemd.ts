import { readdirSync } from 'node:fs'
import { readProcText } from '../process/read-process.js'
import type { Protocol } from '../types.js'

/** Where unit files live, highest precedence first (systemd.unit(5)). */
export const SYSTEMD_UNIT_DIRS: readonly string[] = [
  '/etc/systemd/system',
  '/run/systemd/system',
  '/lib/systemd/system',
  '/usr/lib/systemd/system',
]

// Bounds: a best-effort hint must not cost more than a glance.
const MAX_ENTRIES_PER_DIR = 4096
const MAX_UNIT_BYTES = 64 * 1024

/** Is pid 1 systemd (as opposed to a container init, tini, or a sandbox's own init)? */
export function initIsSystemd(procRoot = '/proc'): boolean {
  return readProcText(`${procRoot}/1/comm`, 'utf8')?.trimEnd() === 'systemd'
}

/** The name of pid 1, for a sentence; null when unreadable. */
export function initName(procRoot = '/proc'): string | null {
  return readProcText(`${procRoot}/1/comm`, 'utf8')?.trimEnd() || null
}

/**
 * The `.socket` units that listen on `port` (`ListenStream=` for TCP, `ListenDatagram=` for UDP;
 * `8080`, `0.0.0.0:8080`, `[::]:8080`), by file name, first directory wins. Best effort: drop-ins
 * and generated units are not read.
 */
export function findSocketUnits(
  port: number,
  protocol: Protocol,
  dirs: readonly string[] = SYSTEMD_UNIT_DIRS,
): string[] {
  const key = protocol === 'tcp' ? 'ListenStream' : 'ListenDatagram'
  const found: string[] = []
  const seen = new Set<string>()
  for (const dir of dirs) {
    let names: string[]
    try {
      names = readdirSync(dir)
    } catch {
      continue
    }
    for (const name of names.slice(0, MAX_ENTRIES_PER_DIR)) {
      if (!name.endsWith('.socket') || seen.has(name)) continue
      seen.add(name) // an earlier directory's unit of the same name overrides this one
      const text = readProcText(`${dir}/${name}`, 'utf8')
      if (text === null || text.length > MAX_UNIT_BYTES) continue
      if (listensOn(text, key, port)) found.push(name)
    }
  }
  return found
}

function listensOn(text: string, key: string, port: number): boolean {
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (!line.startsWith(`${key}=`)) continue
    const value = line.slice(key.length + 1).trim()
    if (value === String(port) || value.endsWith(`:${port}`)) return true
  }
  return false
}
