import { existsSync } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import { PortwardenError } from '../errors.js'

export const MAX_NAME_LENGTH = 100

// Control characters, bidi overrides and zero-width characters hide what a name really says.
// eslint-disable-next-line no-control-regex
const INVISIBLE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/**
 * The name in quotes with what it hides made visible: JSON escapes C0 controls, and the rest
 * (DEL, C1, bidi and zero-width characters) become \uXXXX, so the message cannot reorder or
 * hide text on the user's terminal.
 */
function quote(value: string): string {
  return JSON.stringify(value).replace(new RegExp(INVISIBLE.source, 'g'), (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

/** Checks a project or service name; throws `invalid_request` saying what is accepted. */
export function validateName(kind: 'project' | 'service', value: string): string {
  const accepted = `A ${kind} name is 1-${MAX_NAME_LENGTH} visible characters without control or bidi characters, such as "web" or "review-GH-42".`
  const fail = (why: string) =>
    new PortwardenError('invalid_request', `Invalid ${kind} name ${quote(value.length > 40 ? `${value.slice(0, 40)}…` : value)}: ${why}.`, {
      hint: accepted,
      details: { field: kind },
    })
  if (value.length === 0) throw fail('it is empty')
  if ([...value].length > MAX_NAME_LENGTH) throw fail(`it is ${[...value].length} characters long (at most ${MAX_NAME_LENGTH})`)
  if (INVISIBLE.test(value)) throw fail('it contains control, bidi or zero-width characters')
  if (value.trim() !== value) throw fail('it starts or ends with a space')
  if (LONE_SURROGATE.test(value)) throw fail('it is not valid Unicode')
  return value
}

/** The git worktree containing `directory` (the folder holding `.git`), or null. */
export function findWorktreeRoot(directory: string): string | null {
  let current = resolve(directory)
  for (;;) {
    if (existsSync(join(current, '.git'))) return current
    const parent = dirname(current)
    if (parent === current) return null
    current = parent
  }
}

/** The default project: the current git worktree's name, else the directory's name. */
export function defaultProject(directory = process.cwd()): string {
  const root = findWorktreeRoot(directory) ?? resolve(directory)
  return basename(root) || 'root'
}

export function validatePort(port: number): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new PortwardenError('invalid_request', `Invalid port ${String(port)}: ports are whole numbers from 1 to 65535.`, {
      hint: 'Example: --port 8080',
    })
  }
}
