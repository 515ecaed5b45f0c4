import { existsSync } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import { PortwardenError } from '../errors.js'
import {
  hasUnsafeCharacters,
  quoteForTerminal,
  showValue,
  truncate,
} from '../../shared/safe-text.js'

export const MAX_NAME_LENGTH = 100

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/** Checks a project or service name; throws `invalid_request` saying what is accepted. */
export function validateName(kind: 'project' | 'service', value: string): string {
  const accepted = `A ${kind} name is 1-${MAX_NAME_LENGTH} visible characters without control or bidi characters, such as "web" or "review-GH-42".`
  const fail = (why: string) => {
    // `problem`: the same words as a fragment, for messages that place it in a sentence of their own
    const problem = `invalid ${kind} name ${quoteForTerminal(truncate(value, 41))}: ${why}`
    return new PortwardenError('invalid_request', `I${problem.slice(1)}.`, {
      hint: accepted,
      details: { field: kind, problem },
    })
  }
  if (value.length === 0) throw fail('it is empty')
  if ([...value].length > MAX_NAME_LENGTH)
    throw fail(`it is ${[...value].length} characters long (at most ${MAX_NAME_LENGTH})`)
  if (hasUnsafeCharacters(value)) throw fail('it contains control, bidi or zero-width characters')
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

/** A port (1-65535); throws `invalid_request` naming `what` (e.g. `port`, `range.from`). */
export function validatePort(port: unknown, what = 'port'): asserts port is number {
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new PortwardenError(
      'invalid_request',
      `Invalid ${what} ${showValue(port)}: ports are whole numbers from 1 to 65535.`,
      { hint: 'Example: 8080', details: { field: what } },
    )
  }
}
