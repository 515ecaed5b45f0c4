/**
 * The `.env` text `portwarden env` writes, and the merge that keeps what it does not own: its
 * lines live in one marked block, replaced whole on every write; an assignment of one of its
 * variables outside the block is dropped (two values for one name is a trap: compose takes one,
 * `source` the other) and reported.
 */
import { randomBytes } from 'node:crypto'
import { renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { PortwardenError } from '../errors.js'

export type EnvFormat = 'dotenv' | 'shell'

const BEGIN = '# >>> portwarden env: generated from'
const END = '# <<< portwarden env'

/** `NAME=VALUE` lines (dotenv) or `export NAME=VALUE` (shell), in the block's markers. */
export function renderEnvBlock(
  variables: readonly (readonly [string, string])[],
  format: EnvFormat,
  source: string,
): string {
  const prefix = format === 'shell' ? 'export ' : ''
  const lines = variables.map(([name, value]) => `${prefix}${name}=${value}`)
  return [`${BEGIN} ${source}; edits inside are replaced`, ...lines, END, ''].join('\n')
}

/** A line that assigns `NAME` (`NAME=`, `export NAME=`, spaces around `=`), or null. */
function assignedName(line: string): string | null {
  return /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=/.exec(line)?.[1] ?? null
}

export interface MergedEnvFile {
  text: string
  /** Lines outside the block that assigned one of the block's variables, dropped (1-based). */
  replaced: { line: number; text: string }[]
  /** Lines of the file (not blank) kept as they were. */
  kept: number
}

/** `existing` with the block replaced (or appended), and its variables nowhere else. */
export function mergeEnvFile(
  existing: string,
  block: string,
  names: ReadonlySet<string>,
): MergedEnvFile {
  const lines = existing === '' ? [] : existing.replace(/\n$/, '').split('\n')
  const out: string[] = []
  const replaced: MergedEnvFile['replaced'] = []
  let inBlock = false
  let placed = false
  let kept = 0
  for (const [index, line] of lines.entries()) {
    if (!inBlock && line.startsWith(BEGIN)) {
      inBlock = true
      if (!placed) out.push(block.replace(/\n$/, ''))
      placed = true
      continue
    }
    if (inBlock) {
      if (line.startsWith(END)) inBlock = false
      continue
    }
    const name = assignedName(line)
    if (name !== null && names.has(name)) {
      replaced.push({ line: index + 1, text: line })
      continue
    }
    out.push(line)
    if (line.trim() !== '') kept++
  }
  if (!placed) {
    if (out.length > 0 && out[out.length - 1] !== '') out.push('')
    out.push(block.replace(/\n$/, ''))
  }
  return { text: `${out.join('\n')}\n`, replaced, kept }
}

/**
 * Replaces `path` with `text` atomically (a temporary file beside it, then rename), keeping the
 * file's permission bits; a reader sees the old file or the new one, never half of either.
 */
export function replaceFileAtomically(path: string, text: string): void {
  let mode = 0o644
  try {
    mode = statSync(path).mode & 0o7777
  } catch {
    // a new file
  }
  const temporary = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`)
  try {
    writeFileSync(temporary, text, { mode, flag: 'wx' })
    renameSync(temporary, path)
  } catch (error) {
    rmSync(temporary, { force: true })
    const code = (error as NodeJS.ErrnoException).code
    const denied = code === 'EACCES' || code === 'EPERM' || code === 'EROFS'
    throw new PortwardenError(
      denied ? 'permission_denied' : 'invalid_request',
      `Cannot write ${path}: ${denied ? 'permission denied' : code === 'ENOENT' ? 'its directory does not exist' : (code ?? String(error))}.`,
      { hint: 'Choose a file in a directory that exists and that you may write.' },
    )
  }
}
